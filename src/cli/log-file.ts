import { appendFileSync } from 'node:fs';
import type { ItemEvent, RunStats, Warning } from '../engine/events.js';
import type { DsyncError } from '../errors/dsync-error.js';
import { fmtBytes } from './format.js';
import type { CliReporter, RunInfo } from './reporter.js';

/** --log-file: timestamped lines appended to a file, whatever -q or --json do to the terminal. */
export class LogFileReporter implements CliReporter {
  constructor(private readonly file: string) {}

  private line(text: string): void {
    appendFileSync(this.file, `${new Date().toISOString()} [${process.pid}] ${text}\n`);
  }

  start(info: RunInfo): void {
    this.line(`start ${info.command} ${info.src} ${info.dst}${info.dryRun ? ' (dry run)' : ''}`);
  }

  item(e: ItemEvent): void {
    this.line(`${e.action} ${e.path}${e.type === 'dir' ? '/' : ''}`);
  }

  warning(w: Warning): void {
    this.line(`warning ${w.code}: ${w.message}`);
  }

  progress(): void {}

  phase(): void {}

  planned(): void {}

  streams(): void {}

  summary(s: RunStats, exitCode: number): void {
    this.line(`done exit=${exitCode} files=${s.files} created=${s.created} updated=${s.changed} touched=${s.metaOnly} deleted=${s.deleted} sent=${fmtBytes(s.bytesSent)} wire=${fmtBytes(s.wireBytes)} streams=${s.streams.length || 1}`);
  }

  error(e: DsyncError): void {
    this.line(`error ${e.code} exit=${e.exitCode}: ${e.message}`);
  }
}

/** Several reporters as one. */
export function tee(...rs: CliReporter[]): CliReporter {
  return {
    start: (i) => rs.forEach((r) => r.start(i)),
    item: (e) => rs.forEach((r) => r.item(e)),
    warning: (w) => rs.forEach((r) => r.warning(w)),
    progress: (d) => rs.forEach((r) => r.progress(d)),
    phase: (p) => rs.forEach((r) => r.phase(p)),
    planned: (b) => rs.forEach((r) => r.planned(b)),
    streams: (b) => rs.forEach((r) => r.streams(b)),
    summary: (s, c) => rs.forEach((r) => r.summary(s, c)),
    error: (e) => rs.forEach((r) => r.error(e)),
  };
}
