import os from 'node:os';
import { describe, expect, it, vi } from 'vitest';
import { CompressionGovernor, EARLY_CHECK, FIRST_PROBE, POOR_SAVING, PROBE_EVERY, SAMPLE_EVERY, SPARE_CPU, WINDOW } from '../../src/codec/adaptive.js';

/** Hand `bytes` of source data to the streams: text-like, a third of it on the wire when compressed. */
function send(g: CompressionGovernor, bytes: number): void {
  g.sent(bytes, g.compressing ? bytes / 3 : bytes);
}

/**
 * Drive a governor with a fake clock: each window of source data takes `msCompressed` or `msRaw`
 * depending on the mode it was sent in. Returns the mode of every window.
 */
function drive(windows: number, msCompressed: number, msRaw: number): boolean[] {
  let t = 0;
  const g = new CompressionGovernor(() => t, () => 2 * t);
  const modes: boolean[] = [];
  for (let i = 0; i < windows; i++) {
    modes.push(g.compressing);
    const ms = g.compressing ? msCompressed : msRaw;
    for (let k = 0; k < 4; k++) {
      t += ms / 4;
      send(g, WINDOW / 4);
    }
  }
  return modes;
}

/**
 * Lengths of the runs of `chosen` windows between tries of the other mode, from the first window
 * in the chosen mode after the first measurement of each (window 1 when raw is chosen, 2 else).
 */
function runsBetween(modes: boolean[], chosen: boolean): number[] {
  const runs: number[] = [];
  let run = 0;
  for (const m of modes.slice(chosen ? 2 : 1)) {
    if (m === chosen) run++;
    else {
      runs.push(run);
      run = 0;
    }
  }
  return [...runs, run];
}

/** The schedule of tries over `windows` windows: FIRST_PROBE chosen windows, then twice as many, up to PROBE_EVERY. */
function expectedRuns(windows: number): number[] {
  const runs: number[] = [];
  let left = windows;
  for (let gap = FIRST_PROBE; left > gap; gap = Math.min(gap * 2, PROBE_EVERY)) {
    runs.push(gap);
    left -= gap + 1;
  }
  return [...runs, left];
}

describe('CompressionGovernor (--compress auto)', () => {
  it('compresses the first window, so a small transfer is compressed', () => {
    let t = 0;
    const g = new CompressionGovernor(() => t, () => 2 * t);
    for (let i = 0; i < 100; i++) {
      expect(g.compressing).toBe(true);
      t += 1000;
      send(g, (WINDOW - 1) / 100);
    }
  });

  /**
   * The first window's chunks of 64 KiB, each compressed in 0.3 ms to `ratio` of its bytes, with
   * `idlePerMs` ms of idle CPU a ms. The bytes sent before the governor stopped compressing.
   */
  function firstWindow(ratio: number, idlePerMs: number): number {
    let t = 0;
    const g = new CompressionGovernor(() => t, () => idlePerMs * t);
    const chunk = 64 * 1024;
    for (let sent = 0; sent < 2 * WINDOW; sent += chunk) {
      if (!g.compressing) return sent;
      g.compressed(chunk, 0.3);
      t += 0.3;
      g.sent(chunk, chunk * ratio);
    }
    return Infinity;
  }

  it('ends the first window early where its data barely shrinks and the machine has no CPU to spare for it', () => {
    expect(firstWindow(0.86, 0)).toBe(EARLY_CHECK);
    expect(firstWindow(1, 0.1)).toBe(EARLY_CHECK);
  });

  it('compresses the whole first window where the data shrinks well (a nightly update) or the CPU has room (a slow link)', () => {
    expect(firstWindow(1 - POOR_SAVING - 0.05, 0)).toBe(WINDOW);
    expect(firstWindow(0.86, 2)).toBe(WINDOW);
    expect(firstWindow(0.86, SPARE_CPU + 0.1)).toBe(WINDOW);
  });

  it('on a slow link (compression makes data leave faster) stays compressed, trying raw ever more rarely', () => {
    const modes = drive(200, 100, 250);
    expect(modes[1]).toBe(false); // the first measurement of raw
    expect(runsBetween(modes, true)).toEqual(expectedRuns(200 - 2));
  });

  it('on a fast link (compression only costs time) sends raw, trying compression ever more rarely', () => {
    const modes = drive(200, 300, 120);
    expect(runsBetween(modes, false)).toEqual(expectedRuns(200 - 1));
  });

  it('sends raw where both modes go alike, or compression is not clearly faster (the disk is the limit)', () => {
    for (const msRaw of [100, 105]) {
      const modes = drive(100, 100, msRaw);
      expect(modes.slice(2).filter((m) => m).length).toBeLessThanOrEqual(6); // tries only
    }
  });

  /**
   * 100 windows where compressed ones measure faster (80 ms against 100: other data, a quieter
   * moment), the compressor alone taking `compressorMs` a window and leaving `ratio` of the bytes.
   * Returns how many windows past the first two were compressed.
   */
  function fasterLooking(compressorMs: number | null, ratio: number): number {
    let t = 0;
    const g = new CompressionGovernor(() => t, () => 2 * t);
    const modes: boolean[] = [];
    for (let i = 0; i < 100; i++) {
      modes.push(g.compressing);
      if (g.compressing && compressorMs !== null) g.compressed(WINDOW, compressorMs);
      t += g.compressing ? 80 : 100;
      g.sent(WINDOW, g.compressing ? WINDOW * ratio : WINDOW);
    }
    return modes.slice(2).filter((m) => m).length;
  }

  it('keeps raw where the compressor alone is slower than raw data leaves, whatever compressed windows measured', () => {
    expect(fasterLooking(150, 1 / 3)).toBeLessThanOrEqual(6); // the compressor needs 150 ms a window: raw, but for tries
    expect(fasterLooking(20, 1 / 3)).toBeGreaterThanOrEqual(90); // it keeps up: the faster windows count
  });

  it('does not keep compression that measured faster without shrinking the data enough to explain it (JPEGs)', () => {
    expect(fasterLooking(null, 1)).toBeLessThanOrEqual(6); // nothing saved: raw, but for tries
    expect(fasterLooking(null, 0.95)).toBeLessThanOrEqual(6); // 5 % saved cannot make it 25 % faster
    expect(fasterLooking(null, 0.5)).toBeGreaterThanOrEqual(90); // half saved can
  });

  it('on a steady link ends up trying the slower mode only every PROBE_EVERY windows', () => {
    const runs = runsBetween(drive(600, 300, 120), false); // raw stays faster
    expect(runs.slice(5, -1).every((r) => r === PROBE_EVERY)).toBe(true);
    expect(runs.length).toBeLessThan(5 + 600 / PROBE_EVERY); // not one every few windows
  });

  it('soon corrects a first measurement that was far off (the receiver was busy planning)', () => {
    let t = 0;
    const g = new CompressionGovernor(() => t, () => 2 * t);
    const modes: boolean[] = [];
    for (let i = 0; i < 40; i++) {
      modes.push(g.compressing);
      // Raw is faster (100 ms against 150), but its first window took 400 ms.
      t += g.compressing ? 150 : i === 1 ? 400 : 100;
      send(g, WINDOW);
    }
    expect(modes.slice(0, 2)).toEqual([true, false]);
    expect(modes.indexOf(false, 2)).toBe(2 + FIRST_PROBE); // the first try of raw again
    expect(modes.slice(2 + FIRST_PROBE).filter((m) => m).length).toBeLessThanOrEqual(4); // raw from then on, but for tries
  });

  it('tries the other mode at once when the chosen one slows below it', () => {
    let t = 0;
    const g = new CompressionGovernor(() => t, () => 2 * t);
    const window = (ms: number) => {
      const was = g.compressing;
      t += g.compressing ? 300 : ms; // compressed: slow
      send(g, WINDOW);
      return was;
    };
    // Raw is chosen; past the first tries of compression, they are PROBE_EVERY windows apart.
    for (let i = 0; i < 200; i++) window(100);
    while (g.compressing) window(100);
    expect(window(100)).toBe(false);
    expect(g.compressing).toBe(false);
    window(400); // raw got slower than compression was: the link changed
    expect(g.compressing).toBe(true); // so compression is tried again right away
  });

  it('follows a link that changes speed during the run', () => {
    let t = 0;
    const g = new CompressionGovernor(() => t, () => 2 * t);
    const run = (windows: number, msCompressed: number, msRaw: number) => {
      const modes: boolean[] = [];
      for (let i = 0; i < windows; i++) {
        modes.push(g.compressing);
        t += g.compressing ? msCompressed : msRaw;
        send(g, WINDOW);
      }
      return modes;
    };
    run(20, 300, 120); // fast link: raw
    const later = run(40, 100, 400); // now slow: compression wins again
    expect(later.slice(-8).filter((m) => m).length).toBeGreaterThanOrEqual(7); // compressed again, but for a probe at most
  });

  /**
   * Windows of 64 KiB chunks through a governor the way the encoder drives it: while raw is
   * chosen, sampled chunks are compressed to `ratio` of their size at `compressorMs` a window's
   * worth. A window takes `msRaw`, or `msCompressed`, as the link and the data make it.
   */
  function sampledRun(g: CompressionGovernor, clock: { t: number }, windows: number, w: { msRaw: number; msCompressed: number; ratio: number; compressorMs: number }): boolean[] {
    const modes: boolean[] = [];
    const chunk = 64 * 1024;
    for (let i = 0; i < windows; i++) {
      modes.push(g.compressing);
      const compressing = g.compressing;
      for (let n = 0; n < WINDOW; n += chunk) {
        clock.t += (compressing ? w.msCompressed : w.msRaw) * (chunk / WINDOW);
        const ms = w.compressorMs * (chunk / WINDOW);
        if (compressing) g.compressed(chunk, ms);
        else if (g.sampleNow(chunk)) g.sampled(chunk, chunk * w.ratio, ms);
        g.sent(chunk, compressing ? chunk * w.ratio : chunk);
      }
    }
    return modes;
  }

  it('samples about one chunk per SAMPLE_EVERY bytes while raw is chosen', () => {
    const g = new CompressionGovernor(() => 0, () => 0);
    g.compressing = false;
    let samples = 0;
    for (let n = 0; n < 64 * SAMPLE_EVERY; n += 64 * 1024) if (g.sampleNow(64 * 1024)) samples++;
    expect(samples).toBe(64);
  });

  it('tries compression as soon as the samples show the data now shrinks and the link is the limit', () => {
    const clock = { t: 0 };
    const g = new CompressionGovernor(() => clock.t, () => 2 * clock.t);
    // JPEGs on a slow link: compressing saves nothing, raw is chosen.
    sampledRun(g, clock, 40, { msRaw: 250, msCompressed: 250, ratio: 1, compressorMs: 20 });
    expect(g.compressing).toBe(false);
    // Text now: a third of the bytes, and a compressor far faster than the link. The first text
    // window shows the change, the second measures text raw; then it is tried, and kept.
    const modes = sampledRun(g, clock, 5, { msRaw: 250, msCompressed: 100, ratio: 1 / 3, compressorMs: 20 });
    expect(modes).toEqual([false, false, true, true, true]);
  });

  it('judges new data by raw windows of it, not by rates measured on other data (text after slow small files)', () => {
    const clock = { t: 0 };
    const g = new CompressionGovernor(() => clock.t, () => 2 * clock.t);
    // Arrays: both modes alike. Then many small JPEGs: raw data leaves three times slower.
    sampledRun(g, clock, 4, { msRaw: 100, msCompressed: 100, ratio: 0.88, compressorMs: 20 });
    sampledRun(g, clock, 8, { msRaw: 300, msCompressed: 300, ratio: 1, compressorMs: 20 });
    expect(g.compressing).toBe(false);
    // A window that is JPEGs still, with the first text in its samples; then text on a fast link,
    // where compression (150 ms a window) is slower than raw (100 ms). Against the JPEGs' raw rate
    // and the arrays' compressed one, compression would look twice as fast.
    sampledRun(g, clock, 1, { msRaw: 300, msCompressed: 300, ratio: 0.62, compressorMs: 90 });
    const modes = sampledRun(g, clock, 20, { msRaw: 100, msCompressed: 150, ratio: 1 / 3, compressorMs: 90 });
    expect(modes.slice(0, 4)).toEqual([false, false, false, false]);
    expect(modes.filter((m) => m).length).toBeLessThanOrEqual(2); // the scheduled tries
  });

  it('skips the scheduled tries where the samples show compression cannot win (a fast link, a slow compressor)', () => {
    const clock = { t: 0 };
    const g = new CompressionGovernor(() => clock.t, () => 2 * clock.t);
    const modes = sampledRun(g, clock, 200, { msRaw: 100, msCompressed: 200, ratio: 1 / 3, compressorMs: 150 });
    expect(modes.slice(2).filter((m) => m)).toEqual([]);
    // Without samples the same link gets its tries (see "on a fast link" above).
    expect(drive(200, 200, 100).slice(2).filter((m) => m).length).toBeGreaterThan(3);
  });

  it('leaves compression off while the machine has no idle CPU to compress with, however the rates look', () => {
    // Text that compresses to a third, and compressed windows faster than raw ones (70 against
    // 100 ms), as noise on a saturated machine can make them: with 10 ms of idle CPU a raw window
    // against 60 ms of compressing it, raw stays, and compression is not even tried.
    const busy = { t: 0 };
    const g = new CompressionGovernor(() => busy.t, () => 0.1 * busy.t);
    const modes = sampledRun(g, busy, 100, { msRaw: 100, msCompressed: 70, ratio: 1 / 3, compressorMs: 60 });
    expect(modes.slice(1).filter((m) => m)).toEqual([]);
    // The same data with idle CPU for it (two cores half idle: 100 ms a raw window, SPARE_CPU of
    // the 60 ms is 30): compression is chosen.
    expect(100 * 0.5 * 2).toBeGreaterThan(60 * SPARE_CPU);
    const idle = { t: 0 };
    const h = new CompressionGovernor(() => idle.t, () => idle.t);
    const chosen = sampledRun(h, idle, 100, { msRaw: 100, msCompressed: 70, ratio: 1 / 3, compressorMs: 60 });
    expect(chosen.slice(-20).filter((m) => m).length).toBeGreaterThanOrEqual(19);
    // Where the system does not tell idle time (os.cpus() is empty without /proc), the rates decide.
    const unknown = { t: 0 };
    const cpus = vi.spyOn(os, 'cpus').mockReturnValue([]);
    try {
      const u = new CompressionGovernor(() => unknown.t); // the machine's idle time, as in a run
      const ruled = sampledRun(u, unknown, 100, { msRaw: 100, msCompressed: 70, ratio: 1 / 3, compressorMs: 60 });
      expect(ruled.slice(-20).filter((m) => m).length).toBeGreaterThanOrEqual(19);
    } finally {
      cpus.mockRestore();
    }
  });
});
