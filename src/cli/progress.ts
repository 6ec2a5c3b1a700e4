import type CliProgress from 'cli-progress';
import { createRequire } from 'node:module';
import type { ItemEvent, RunStats, Warning } from '../engine/events.js';
import type { DsyncError } from '../errors/dsync-error.js';
import { fmtBytes } from './format.js';
import type { CliReporter, RunInfo } from './reporter.js';

// Loaded only for a progress line: runs from scripts and cron (no terminal) skip its ~20 ms start-up.
const require = createRequire(import.meta.url);

/**
 * A live progress line on a terminal (stderr): phase, bytes transferred of those planned so far,
 * rate and ETA. Messages and itemised changes are printed above it. Only used on a TTY.
 */
export class ProgressReporter implements CliReporter {
  private readonly bar: CliProgress.SingleBar;
  private planned_ = 0;
  private done = 0;
  private phaseName = 'starting';
  private t0 = performance.now();
  private running = false;
  private lastStreams: { at: number; bytes: number[] } | null = null;
  private streamText = '';

  constructor(
    private readonly inner: CliReporter,
    private readonly stream: NodeJS.WriteStream,
  ) {
    const cliProgress = require('cli-progress') as typeof CliProgress;
    this.bar = new cliProgress.SingleBar(
      {
        stream,
        format: '{phase} |{bar}| {percentage}% | {doneH} of {totalH} | {rate}/s | ETA {eta_formatted}{streams}',
        hideCursor: true,
        clearOnComplete: true,
        fps: 8,
        etaBuffer: 40,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  private payload() {
    const secs = (performance.now() - this.t0) / 1000;
    return { phase: this.phaseName.padEnd(20), doneH: fmtBytes(this.done), totalH: fmtBytes(this.planned_), rate: fmtBytes(secs > 0 ? this.done / secs : 0), streams: this.streamText };
  }

  /** Print a line above the bar: clear the bar's line, write, and let the bar redraw below. */
  private above(write: () => void): void {
    if (this.running) this.stream.write('\r\x1b[2K');
    write();
    if (this.running) this.bar.update(this.done, this.payload());
  }

  start(info: RunInfo): void {
    this.inner.start(info);
    this.t0 = performance.now();
    this.bar.start(1, 0, this.payload());
    this.running = true;
  }

  item(e: ItemEvent): void {
    this.above(() => this.inner.item(e));
  }

  warning(w: Warning): void {
    this.above(() => this.inner.warning(w));
  }

  progress(d: { bytes: number; wire: number }): void {
    this.done += d.bytes;
    this.bar.update(this.done, this.payload());
  }

  planned(bytes: number): void {
    this.planned_ += bytes;
    this.bar.setTotal(Math.max(1, this.planned_));
  }

  /** Per-stream activity: each data stream's rate since the last report ("streams 12M 11M 0 12M/s"). */
  streams(bytes: number[]): void {
    const now = performance.now();
    const last = this.lastStreams;
    this.lastStreams = { at: now, bytes };
    if (!last || now - last.at < 100) return;
    const secs = (now - last.at) / 1000;
    this.streamText = ` | streams ${bytes.map((b, i) => fmtBytes(Math.round((b - (last.bytes[i] ?? 0)) / secs))).join(' ')}/s`;
    if (this.running) this.bar.update(this.done, this.payload());
  }

  phase(name: string): void {
    this.phaseName = name;
    this.bar.update(this.done, this.payload());
  }

  private stop(): void {
    if (!this.running) return;
    this.running = false;
    this.bar.stop();
  }

  summary(s: RunStats, exitCode: number): void {
    this.stop();
    this.inner.summary(s, exitCode);
  }

  error(e: DsyncError): void {
    this.stop();
    this.inner.error(e);
  }
}
