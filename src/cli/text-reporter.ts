import type { ItemEvent, RunStats, Warning } from '../engine/events.js';
import type { DsyncError } from '../errors/dsync-error.js';
import { fmtBytes, fmtDuration } from './format.js';
import type { CliReporter } from './reporter.js';

export interface TextOptions {
  mode: 'sync' | 'status' | 'verify'; // what the run does: change, report would-be changes, compare
  verbose: boolean; // itemise every change
  quiet: boolean; // errors only
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

const VERBS: Record<TextOptions['mode'], Record<ItemEvent['action'], string>> = {
  sync: { new: 'created', changed: 'updated', meta: 'attrs', deleted: 'deleted' },
  status: { new: 'create', changed: 'update', meta: 'attrs', deleted: 'delete' },
  verify: { new: 'missing', changed: 'differs', meta: 'attrs', deleted: 'extra' },
};

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
    if (this.o.quiet || !(this.o.verbose || this.o.mode === 'status')) return;
    const name = e.path === '' ? '.' : e.path;
    this.o.out.write(`${VERBS[this.o.mode][e.action].padEnd(8)} ${name}${e.type === 'dir' ? '/' : ''}\n`);
  }

  warning(w: Warning): void {
    this.o.err.write(`dsync: warning: ${w.message}\n`);
  }

  progress(): void {}

  streams(): void {}

  phase(): void {}

  planned(): void {}

  summary(s: RunStats): void {
    if (this.o.quiet) return;
    const ms = performance.now() - this.t0;
    const head = `${s.files} files, ${fmtBytes(s.bytes)}`;
    if (this.o.mode === 'verify') {
      const diff = s.created + s.changed + s.metaOnly + s.deleted;
      const what = diff === 0 ? 'identical' : `${diff} differences (${s.created} missing, ${s.changed} differ, ${s.metaOnly} attrs, ${s.deleted} extra)`;
      this.o.out.write(`${head} re-read on both sides: ${what}; ${fmtDuration(ms)}\n`);
      return;
    }
    const would = this.o.mode === 'status' ? 'would be ' : '';
    const reused = s.chunksLocal ? `, ${fmtBytes(s.bytesLocal)} reused from the destination` : '';
    const sent = this.o.mode === 'status' ? `would send ${fmtBytes(s.bytesSent)} of chunk data (after dedup, before compression)` : `sent ${fmtBytes(s.bytesSent)} of chunk data (${fmtBytes(s.wireBytes)} encoded${s.streams.length > 1 ? `, ${s.streams.length} streams` : ''})`;
    this.o.out.write(`${head}: ${s.created} ${would}created, ${s.changed} ${would}updated, ${s.metaOnly} ${would}touched, ${s.deleted} ${would}deleted; ${sent}${reused}; ${fmtDuration(ms)}\n`);
  }
}
