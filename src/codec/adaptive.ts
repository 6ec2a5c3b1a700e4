/** Source bytes a measurement covers: several times what the streams can hold queued. */
export const WINDOW = 32 * 1024 * 1024;
/** After this many windows in the faster mode, one in the other: conditions change during a run. */
export const PROBE_EVERY = 8;
/** Each probe that confirms the choice doubles the wait before the next, up to this many windows. */
export const PROBE_EVERY_MAX = 64;

/**
 * `--compress auto`: compression pays where the link is slower than the compressor, and costs
 * time where it is not (a fast LAN, two busy ends). Neither is known in advance, so the sender
 * measures it: the rate at which source data goes out (backpressure included) with compression
 * and without, over windows of WINDOW bytes, and keeps the faster, trying the other again after
 * PROBE_EVERY windows, then less and less often while the probes keep confirming the choice (a
 * probe in the slower mode costs a window's worth of time). The first window is compressed, so a
 * small transfer (a nightly update) is always compressed.
 */
export class CompressionGovernor {
  compressing = true;
  private windowStart: number;
  private windowBytes = 0;
  private readonly rate = { on: Number.NaN, off: Number.NaN }; // bytes/ms, smoothed
  private sinceProbe = 0;
  private probeEvery = PROBE_EVERY;
  private chosen: boolean | null = null; // the faster mode when the current probe began

  constructor(private readonly now: () => number = () => performance.now()) {
    this.windowStart = now();
  }

  /** `bytes` of source data have been handed to the streams. */
  sent(bytes: number): void {
    this.windowBytes += bytes;
    if (this.windowBytes < WINDOW) return;
    const t = this.now();
    const rate = this.windowBytes / Math.max(t - this.windowStart, 1e-3);
    const mode = this.compressing ? 'on' : 'off';
    this.rate[mode] = Number.isNaN(this.rate[mode]) ? rate : (this.rate[mode] + rate) / 2;
    this.windowBytes = 0;
    this.windowStart = t;
    if (Number.isNaN(this.rate.off)) {
      this.compressing = false; // measured one way, now the other
      return;
    }
    const faster = this.rate.on >= this.rate.off;
    if (this.chosen !== null) {
      // A probe just ended: it confirmed the choice (probe less often) or overturned it.
      this.probeEvery = faster === this.chosen ? Math.min(this.probeEvery * 2, PROBE_EVERY_MAX) : PROBE_EVERY;
      this.chosen = null;
    }
    if (++this.sinceProbe > this.probeEvery) {
      this.sinceProbe = 0;
      this.chosen = faster;
      this.compressing = !faster;
    } else {
      this.compressing = faster;
    }
  }
}
