import { describe, expect, it } from 'vitest';
import { CompressionGovernor, PROBE_EVERY, WINDOW } from '../../src/codec/adaptive.js';

/**
 * Drive a governor with a fake clock: each window of source data takes `msCompressed` or `msRaw`
 * depending on the mode it was sent in. Returns the mode of every window.
 */
function drive(windows: number, msCompressed: number, msRaw: number): boolean[] {
  let t = 0;
  const g = new CompressionGovernor(() => t);
  const modes: boolean[] = [];
  for (let i = 0; i < windows; i++) {
    modes.push(g.compressing);
    const ms = g.compressing ? msCompressed : msRaw;
    for (let k = 0; k < 4; k++) {
      t += ms / 4;
      g.sent(WINDOW / 4);
    }
  }
  return modes;
}

describe('CompressionGovernor (--compress auto)', () => {
  it('compresses the first window, so a small transfer is always compressed', () => {
    let t = 0;
    const g = new CompressionGovernor(() => t);
    for (let i = 0; i < 100; i++) {
      expect(g.compressing).toBe(true);
      t += 1000;
      g.sent((WINDOW - 1) / 100);
    }
  });

  it('on a slow link (compression makes data leave faster) stays compressed, trying raw now and then', () => {
    const modes = drive(50, 100, 250);
    const raw = modes.filter((m) => !m).length;
    expect(modes[1]).toBe(false); // the one measurement of raw
    expect(raw).toBeLessThanOrEqual(2 + Math.ceil(50 / (PROBE_EVERY + 1)));
    expect(modes.slice(2, 2 + PROBE_EVERY).every((m) => m)).toBe(true);
  });

  it('on a fast link (compression only costs time) sends raw, trying compression now and then', () => {
    const modes = drive(50, 300, 120);
    const compressed = modes.filter((m) => m).length;
    expect(compressed).toBeLessThanOrEqual(1 + Math.ceil(50 / (PROBE_EVERY + 1)));
    expect(modes.slice(2, 2 + PROBE_EVERY).every((m) => !m)).toBe(true);
  });

  it('on a steady link tries the slower mode only every PROBE_EVERY windows', () => {
    const modes = drive(400, 300, 120); // raw stays faster
    const probes = modes.map((m, i) => (m && i > 0 ? i : -1)).filter((i) => i > 0);
    expect(probes.length).toBe(Math.floor((400 - 2) / (PROBE_EVERY + 1))); // not one every few windows
    for (let k = 1; k < probes.length; k++) expect(probes[k]! - probes[k - 1]!).toBe(PROBE_EVERY + 1);
  });

  it('tries the other mode at once when the chosen one slows below it', () => {
    let t = 0;
    const g = new CompressionGovernor(() => t);
    const window = (ms: number) => {
      const was = g.compressing;
      t += ms;
      g.sent(WINDOW);
      return was;
    };
    window(300); // compressed: slow
    window(100); // raw: faster, chosen
    for (let i = 0; i < 5; i++) expect(window(100)).toBe(false);
    window(400); // raw got slower than compression was: the link changed
    expect(g.compressing).toBe(true); // so compression is tried again right away
  });

  it('follows a link that changes speed during the run', () => {
    let t = 0;
    const g = new CompressionGovernor(() => t);
    const run = (windows: number, msCompressed: number, msRaw: number) => {
      const modes: boolean[] = [];
      for (let i = 0; i < windows; i++) {
        modes.push(g.compressing);
        t += g.compressing ? msCompressed : msRaw;
        g.sent(WINDOW);
      }
      return modes;
    };
    run(20, 300, 120); // fast link: raw
    const later = run(40, 100, 400); // now slow: compression wins again
    expect(later.slice(-8).filter((m) => m).length).toBeGreaterThanOrEqual(7); // compressed again, but for a probe at most
  });
});
