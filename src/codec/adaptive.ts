import os from 'node:os';

/** Source bytes a measurement covers: several times what the streams can hold queued. */
export const WINDOW = 32 * 1024 * 1024;
/** Windows between tries of the slower mode while nothing suggests that the link changed. */
export const PROBE_EVERY = 64;
/** Windows before the first such try; the wait doubles after each try, up to PROBE_EVERY. */
export const FIRST_PROBE = 2;
/**
 * How much faster compressed data must leave to be preferred. Where both modes go alike (the
 * receiver's disk is the limit, say), compressing only takes CPU from both ends.
 */
export const COMPRESS_MARGIN = 1.1;
/**
 * While raw is chosen, one chunk per this many source bytes is compressed anyway (and sent so if it
 * shrank): a sample of what compression would do to the data going out now, and how fast. Four
 * a window: one a MiB cost a loopback first copy 0.55 s (8 alternating pairs); eight, 75 ms of
 * the client's CPU for 214 samples.
 */
export const SAMPLE_EVERY = 16 * 1024 * 1024;
/** How much faster the samples must estimate compressed data to leave for it to be tried at once. */
export const ESTIMATE_MARGIN = 1.5;
/**
 * Samples whose ratio differs from that of the data the raw rate was measured on by more than
 * this factor show other data going out (text after JPEGs).
 */
export const DATA_CHANGE = 1.25;
/**
 * Compression takes CPU: it is chosen or tried only if, while raw data went out, the machine left
 * idle at least this share of the CPU time compressing that data would have taken. Where the
 * machine is saturated (both ends of a loopback copy on two cores: 16% idle), compressing takes
 * the CPU the transfer runs on, and measured rates cannot show it reliably (a first copy went
 * 4.3-4.5 s raw, 5.2-5.3 s when noise made compression look faster); behind a slow link (40 ms,
 * 1 Gbit/s here: 47% idle) the idle CPU pays for itself.
 */
export const SPARE_CPU = 0.5;
/**
 * The first window ends early, once this many of its bytes went out compressed, if they shrank by
 * less than POOR_SAVING while the machine had no CPU to spare for compressing them (SPARE_CPU):
 * raw is then measured at once, as after any first window. A loopback first copy spent 97 ms of
 * the client's CPU on its first window (float arrays, 14% smaller); with both changes here, twelve
 * alternating first copies took 4.25 s against 4.40 s.
 */
export const EARLY_CHECK = 8 * 1024 * 1024;
export const POOR_SAVING = 0.2;
/** A floor for the measured compression ratio (deltas of a few bytes for whole chunks). */
const MIN_RATIO = 1e-3;

/**
 * `--compress auto`: compression pays where the link is slower than the compressor, and costs
 * time where it is not (a fast LAN, two busy ends). Neither is known in advance, so the sender
 * measures it: the rate at which source data goes out (backpressure included) with compression
 * and without, over windows of WINDOW bytes, and keeps compression only where it is clearly the
 * faster (COMPRESS_MARGIN), the compressor alone outpaces raw data, and the data shrank enough to
 * explain the difference (the rates of windows swing with the data: 6000 small JPEGs go slower
 * than a text shard, compressed or not, and compressing them saves nothing). A window in the
 * slower mode costs time, so the other mode is tried again only when a window of the chosen one
 * went so slow that the other, as last measured, would win (the link or the load changed), or
 * after a number of windows: FIRST_PROBE at first, doubling to PROBE_EVERY. While raw is chosen,
 * samples (SAMPLE_EVERY) keep the compressor's speed and ratio current with the data: a window
 * whose samples show that compression would clearly be faster (text after a stretch of JPEGs on a
 * slow link) tries it at once, and one whose samples show it cannot be (a compressor slower than
 * the link, data that does not shrink) skips the scheduled try. The first windows
 * share the ends with the receiver's planning and the start of its disk flushes, so one
 * measurement of each mode there can be far off; a try's measurement replaces the one it
 * questions instead of being averaged with it. The first window is compressed, so a small
 * transfer (a nightly update) is compressed, unless its data barely shrinks where the machine has
 * no CPU to spare (see EARLY_CHECK).
 */
export class CompressionGovernor {
  compressing = true;
  /** Set once a whole window has gone out: from then on, the transfer is bulk. */
  bulk = false;
  private windowStart: number;
  private windowBytes = 0;
  private readonly rate = { on: Number.NaN, off: Number.NaN }; // bytes/ms, smoothed
  private sinceProbe = 0;
  private probeAfter = FIRST_PROBE;
  private probing = false; // this window tries the mode that was not chosen
  private speed = Number.NaN; // source bytes/ms the compressor alone managed in its last window
  private windowWire = 0; // bytes the current window's source data took on the wire
  private ratio = 1; // wire bytes per source byte in the last compressed window
  private work = { bytes: 0, ms: 0 }; // compressor time in the current window
  private samples = { bytes: 0, wire: 0, ms: 0 }; // chunks sampled in the current (raw) window
  private sinceSample = SAMPLE_EVERY; // source bytes since the last sample: the first raw chunk is one
  private offRatio = Number.NaN; // the samples' ratio of the data the raw rate was measured on
  private offStale = false; // the data changed: the next raw window's rate replaces the raw rate
  private idleStart: number;
  private spare = Number.NaN; // idle CPU in the last raw window, per CPU ms compressing it would take

  /** `idle`: CPU time all cores of this machine have spent idle, in ms (see SPARE_CPU). */
  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly idle: () => number = machineIdleMs,
  ) {
    this.windowStart = now();
    this.idleStart = idle();
  }

  /** The compressor took `ms` for `bytes` of source data (whole chunks: deltas are always made). */
  compressed(bytes: number, ms: number): void {
    this.work.bytes += bytes;
    this.work.ms += ms;
  }

  /** While raw is chosen: whether this chunk of `bytes` is to be compressed as a sample. */
  sampleNow(bytes: number): boolean {
    this.sinceSample += bytes;
    if (this.sinceSample < SAMPLE_EVERY) return false;
    this.sinceSample = 0;
    return true;
  }

  /** A sampled chunk of `bytes` compressed to `wire` bytes in `ms`. */
  sampled(bytes: number, wire: number, ms: number): void {
    this.samples.bytes += bytes;
    this.samples.wire += wire;
    this.samples.ms += ms;
  }

  /** Whether the first window is to end here (see EARLY_CHECK). */
  private firstWindowPoor(): boolean {
    if (this.bulk || !this.compressing || this.windowBytes < EARLY_CHECK || !(this.work.ms > 0)) return false;
    if (this.windowWire < this.windowBytes * (1 - POOR_SAVING)) return false;
    return (this.idle() - this.idleStart) / this.work.ms < SPARE_CPU; // unknown idle time (NaN): no
  }

  /** `bytes` of source data have been handed to the streams, as `wire` bytes. */
  sent(bytes: number, wire: number): void {
    this.windowBytes += bytes;
    this.windowWire += wire;
    if (this.windowBytes < WINDOW && !this.firstWindowPoor()) return;
    const t = this.now();
    const rate = this.windowBytes / Math.max(t - this.windowStart, 1e-3);
    const mode = this.compressing ? 'on' : 'off';
    const old = this.rate[mode];
    const replace = Number.isNaN(old) || this.probing || this.offStale; // a window after a change is raw
    this.rate[mode] = replace ? rate : (old + rate) / 2;
    this.probing = false;
    if (this.compressing && this.work.ms > 0) this.speed = this.work.bytes / this.work.ms;
    if (this.compressing) this.ratio = Math.max(this.windowWire / this.windowBytes, MIN_RATIO);
    const sampled = !this.compressing && this.samples.bytes > 0;
    const idle = this.idle();
    // A raw window whose samples show other data than the raw rate was measured on (the rates of
    // windows swing with the data: 6000 small JPEGs go slower than a text shard) decides nothing:
    // the next raw window measures the new data afresh, and the choice is made on it.
    let changed = false;
    if (sampled) {
      this.speed = this.samples.bytes / Math.max(this.samples.ms, 1e-3);
      this.ratio = Math.max(this.samples.wire / this.samples.bytes, MIN_RATIO);
      changed = !replace && Math.max(this.ratio, this.offRatio) > Math.min(this.ratio, this.offRatio) * DATA_CHANGE;
      this.offRatio = this.ratio;
      this.spare = (idle - this.idleStart) / (this.windowBytes / this.speed);
    }
    this.offStale = changed;
    this.work = { bytes: 0, ms: 0 };
    this.samples = { bytes: 0, wire: 0, ms: 0 };
    this.windowBytes = 0;
    this.windowWire = 0;
    this.windowStart = t;
    this.idleStart = idle;
    this.bulk = true;
    if (Number.isNaN(this.rate.off)) {
      this.compressing = false; // measured one way, now the other
      return;
    }
    if (changed) return;
    // Data cannot leave compressed faster than the compressor alone goes: where it is slower than
    // raw data left, a compressed window that measured faster was the data or the load changing.
    const canWin = (raw: number) => !(this.speed < raw) && !(this.spare < SPARE_CPU);
    // Nor can it leave faster than raw data would by more than it shrank the data: above that,
    // the measurements differ by what was sent (JPEGs against text) or the load, not the mode.
    const credibleOn = (raw: number) => Math.min(this.rate.on, raw / this.ratio);
    const faster = canWin(this.rate.off) && credibleOn(this.rate.off) > this.rate.off * COMPRESS_MARGIN;
    const inChosen = this.compressing === faster;
    // What this window's samples say of the data now: compressed, it would leave at the
    // compressor's speed or as fast as the link takes raw data shrunk by the ratio, whichever is
    // lower. Against the smoothed raw rate (one slow window, a burst of small files, is no
    // reason), and by ESTIMATE_MARGIN: a sample times one chunk, not encryption and queues.
    const estimated = sampled && canWin(this.rate.off) && Math.min(this.speed, this.rate.off / this.ratio) > this.rate.off * ESTIMATE_MARGIN;
    // This window of the chosen mode went so slow that the other mode, as last measured, would
    // win; or raw is chosen and the samples say compression would now clearly win.
    const doubt = this.compressing ? rate <= this.rate.off * COMPRESS_MARGIN : estimated || (canWin(rate) && rate * COMPRESS_MARGIN < credibleOn(rate));
    // The samples say compression cannot be clearly faster however the link goes (nor can it win
    // without idle CPU, see canWin): no try is due.
    const hopeless = sampled && (!canWin(this.rate.off * COMPRESS_MARGIN) || this.ratio * COMPRESS_MARGIN > 1);
    if (inChosen && (doubt || (!hopeless && ++this.sinceProbe >= this.probeAfter))) {
      this.sinceProbe = 0;
      this.probeAfter = Math.min(this.probeAfter * 2, PROBE_EVERY);
      this.probing = true;
      this.compressing = !faster;
    } else {
      this.compressing = faster;
    }
  }
}

/**
 * CPU time every core of this machine has spent idle since boot, in ms; NaN where the system does
 * not tell (os.cpus() is empty without /proc), which leaves compression to the measured rates.
 */
function machineIdleMs(): number {
  const cpus = os.cpus();
  return cpus.length ? cpus.reduce((n, c) => n + c.times.idle, 0) : Number.NaN;
}
