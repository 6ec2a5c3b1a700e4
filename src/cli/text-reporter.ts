import type { ItemEvent, RunStats, Warning } from '../engine/events.js';
import type { DsyncError } from '../errors/dsync-error.js';
import { fmtBytes, fmtDuration } from './format.js';
import type { CliReporter } from './reporter.js';

export interface TextOptions {
  verbose: boolean; // itemise every change
  quiet: boolean; // errors only
  dryRun: boolean;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

const VERB: Record<ItemEvent['action'], string> = { new: 'created', changed: 'updated', meta: 'attrs', deleted: 'deleted' };

/** Plain-text reporting: itemised changes (with -v or --dry-run), warnings, one summary line. */
export class TextReporter implements CliReporter {
  private t0 = performance.now();

  constructor(private readonly o: TextOptions) {}

  start(): void {
    this.t0 = performance.now();
  }

  error(e: DsyncError): void {
    this.o.err.write(`dsync: error: ${e.message}\n`);
  }

  item(e: ItemEvent): void {
    if (this.o.quiet || !(this.o.verbose || this.o.dryRun)) return;
    const name = e.path === '' ? '.' : e.path;
    this.o.out.write(`${VERB[e.action].padEnd(8)} ${name}${e.type === 'dir' ? '/' : ''}\n`);
  }

  warning(w: Warning): void {
    this.o.err.write(`dsync: warning: ${w.message}\n`);
  }

  progress(): void {}

  phase(): void {}

  planned(): void {}

  summary(s: RunStats): void {
    if (this.o.quiet) return;
    const ms = performance.now() - this.t0;
    const would = this.o.dryRun ? 'would be ' : '';
    const reused = s.chunksLocal ? `, ${fmtBytes(s.bytesLocal)} reused from the destination` : '';
    const sent = this.o.dryRun ? `would send ${fmtBytes(s.bytesSent)}` : `sent ${fmtBytes(s.bytesSent)} of chunk data (${fmtBytes(s.wireBytes)} encoded)`;
    this.o.out.write(`${s.files} files, ${fmtBytes(s.bytes)}: ${s.created} ${would}created, ${s.changed} ${would}updated, ${s.metaOnly} ${would}touched, ${s.deleted} ${would}deleted; ${sent}${reused}; ${fmtDuration(ms)}\n`);
  }
}
