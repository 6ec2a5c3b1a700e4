import type { ItemEvent, RunStats, Warning } from '../engine/events.js';
import type { DsyncError } from '../errors/dsync-error.js';
import { EXIT } from '../errors/exit-codes.js';
import { VERSION } from '../version.js';
import type { CliReporter, RunInfo } from './reporter.js';

/** Version of the --json event schema (README: "JSON events"); bumped on incompatible changes. */
export const JSON_SCHEMA = 1;
const PROGRESS_EVERY_MS = 2000;

/** --json: one JSON object per line on stdout, nothing else on stdout. */
export class JsonReporter implements CliReporter {
  private t0 = performance.now();
  private lastProgress = -Infinity; // the first progress event goes out at once
  private bytes = 0;
  private wire = 0;
  private perStream: number[] = [];

  constructor(private readonly out: NodeJS.WritableStream) {}

  private emit(ev: Record<string, unknown>): void {
    this.out.write(`${JSON.stringify(ev)}\n`);
  }

  start(info: RunInfo): void {
    this.t0 = performance.now();
    this.emit({ event: 'start', schema: JSON_SCHEMA, version: VERSION, time: new Date().toISOString(), ...info });
  }

  item(e: ItemEvent): void {
    this.emit({ event: 'item', action: e.action, type: e.type, path: e.path, size: e.size });
  }

  warning(w: Warning): void {
    this.emit({ event: 'warning', code: w.code, exitCode: EXIT[w.code], message: w.message, ...(w.path !== undefined ? { path: w.path } : {}) });
  }

  progress(d: { bytes: number; wire: number }): void {
    this.bytes += d.bytes;
    this.wire += d.wire;
    const now = performance.now();
    if (now - this.lastProgress >= PROGRESS_EVERY_MS) {
      this.lastProgress = now;
      this.emit({ event: 'progress', bytes: this.bytes, wireBytes: this.wire, elapsedMs: Math.round(now - this.t0), streams: this.perStream });
    }
  }

  phase(): void {}

  planned(): void {}

  streams(bytes: number[]): void {
    this.perStream = bytes;
  }

  summary(s: RunStats, exitCode: number): void {
    const ms = performance.now() - this.t0;
    this.emit({ event: 'summary', ...s, durationMs: Math.round(ms), throughput: Math.round(s.bytesSent / Math.max(ms / 1000, 1e-3)), exitCode });
  }

  error(e: DsyncError): void {
    this.emit({ event: 'error', code: e.code, exitCode: e.exitCode, message: e.message });
  }
}
