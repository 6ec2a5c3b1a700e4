import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { ChunkIndex } from './chunk-index.js';
import { SUBDIR_NAME } from './state-dir.js';

const FLUSH_BYTES = 16 * 1024;
const FLUSH_MS = 50;
/** `hash file offset length`, the file a staged one (see StateDir.stagedPath) and nothing else. */
const LINE = new RegExp(`^([0-9a-f]{64}) (${SUBDIR_NAME}/[0-9a-f]{32}(?:\\.\\d{1,9})?) (\\d{1,15}) (\\d{1,9})$`);

/**
 * An append-only record of every chunk written into staging: `hash file offset length` a line,
 * file relative to the staging directory. A later run after an interruption indexes these chunks
 * as data it already has, so only what never arrived is sent again. The journal is only a hint:
 * a torn last line is skipped and every chunk is re-verified against its hash before use.
 */
export class Journal {
  private readonly fd: number;
  private pending = '';
  private timer: NodeJS.Timeout | null = null;

  constructor(
    file: string,
    private readonly staging: string,
  ) {
    this.fd = openSync(file, 'a', 0o600);
  }

  /**
   * Chunks just written to `file`. Lines are gathered and appended together, at most
   * FLUSH_BYTES or FLUSH_MS later (one write a chunk cost more than the journal is worth): a run
   * killed in between only re-receives those few chunks.
   */
  record(file: string, chunks: { key: string; offset: number; length: number }[]): void {
    const rel = file.startsWith(this.staging + path.sep) ? file.slice(this.staging.length + 1) : path.relative(this.staging, file);
    for (const c of chunks) this.pending += `${Buffer.from(c.key, 'latin1').toString('hex')} ${rel} ${c.offset} ${c.length}\n`;
    if (this.pending.length >= FLUSH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flushQuietly(), FLUSH_MS).unref();
  }

  /** Append the gathered lines; on failure they are dropped (the journal is only a hint). */
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const text = this.pending;
    this.pending = '';
    if (text) writeSync(this.fd, text);
  }

  /** Where no caller could act on a failure (a full disk is reported by the next data write). */
  private flushQuietly(): void {
    try {
      this.flush();
    } catch {
      // lost lines only mean those chunks are sent again after an interruption
    }
  }

  close(): void {
    this.flushQuietly();
    closeSync(this.fd);
  }

  /** Index the chunks earlier (interrupted) runs journaled that the destination does not hold. */
  static reuse(file: string, staging: string, index: ChunkIndex, maxChunk: number): number {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      return 0;
    }
    let n = 0;
    const present = new Map<string, boolean>(); // staged files garbage-collection may have removed
    for (const line of text.split('\n')) {
      const m = LINE.exec(line);
      if (!m) continue; // torn or foreign line
      const key = Buffer.from(m[1]!, 'hex').toString('latin1');
      const length = Number(m[4]);
      if (length === 0 || length > maxChunk || index.get(key)) continue;
      const file = path.join(staging, m[2]!);
      if (!present.has(file)) present.set(file, existsSync(file));
      if (!present.get(file)) continue;
      index.set(key, { file, offset: Number(m[3]), length });
      n++;
    }
    return n;
  }
}
