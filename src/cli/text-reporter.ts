import type { ItemEvent, Reporter, RunStats, Warning } from '../engine/events.js';
import { fmtBytes, fmtDuration } from './format.js';

export interface TextOptions {
  verbose: boolean; // itemise every change
  quiet: boolean; // errors only
  dryRun: boolean;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

const VERB: Record<ItemEvent['action'], string> = { new: 'created', changed: 'updated', meta: 'attrs', deleted: 'deleted' };

/** Plain-text reporting: itemised changes (with -v or --dry-run), warnings, one summary line. */
export class TextReporter implements Reporter {
  constructor(private readonly o: TextOptions) {}

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

  summary(s: RunStats, ms: number): void {
    if (this.o.quiet) return;
    const what = this.o.dryRun ? 'would change' : 'changed';
    const reused = s.chunksLocal ? `, ${fmtBytes(s.bytesLocal)} reused from the destination` : '';
    const sent = this.o.dryRun ? `would send ${fmtBytes(s.bytesSent)}` : `sent ${fmtBytes(s.bytesSent)} (${fmtBytes(s.wireBytes)} on the wire)`;
    this.o.out.write(`${s.files} files (${fmtBytes(s.bytes)}): ${what} ${s.created} new, ${s.changed} updated, ${s.metaOnly} attrs, ${s.deleted} deleted; ${sent}${reused}; ${fmtDuration(ms)}\n`);
  }
}
