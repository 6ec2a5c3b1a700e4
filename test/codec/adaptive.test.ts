import { describe, expect, it } from 'vitest';
import { CompressionGovernor, PROBE_EVERY, PROBE_EVERY_MAX, WINDOW } from '../../src/codec/adaptive.js';

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

  it('probes less and less often while the probes keep confirming the choice', () => {
    const modes = drive(400, 300, 120); // raw stays faster
    const probes = modes.map((m, i) => (m && i > 0 ? i : -1)).filter((i) => i > 0);
    const gaps = probes.slice(1).map((p, k) => p - probes[k]! - 1);
    expect(gaps[0]).toBe(2 * PROBE_EVERY); // the first probe confirmed raw: twice the wait
    for (let k = 1; k < gaps.length; k++) expect(gaps[k]).toBe(Math.min(2 * gaps[k - 1]!, PROBE_EVERY_MAX));
    expect(probes.length).toBeLessThanOrEqual(2 + Math.ceil(400 / PROBE_EVERY_MAX)); // not 400 / 9
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
    expect(later.slice(-PROBE_EVERY).filter((m) => m).length).toBeGreaterThanOrEqual(PROBE_EVERY - 1);
  });
});
