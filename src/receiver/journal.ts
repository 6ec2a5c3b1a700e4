import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { ChunkIndex } from './chunk-index.js';

/**
 * An append-only record of every chunk written into staging: `hash file offset length` a line,
 * file relative to the staging directory. A later run after an interruption indexes these chunks
 * as data it already has, so only what never arrived is sent again. The journal is only a hint:
 * a torn last line is skipped and every chunk is re-verified against its hash before use.
 */
export class Journal {
  private readonly fd: number;

  constructor(
    file: string,
    private readonly staging: string,
  ) {
    this.fd = openSync(file, 'a', 0o600);
  }

  /** Chunks just written to `file`, in one append. */
  record(file: string, chunks: { key: string; offset: number; length: number }[]): void {
    const rel = path.relative(this.staging, file);
    writeSync(this.fd, chunks.map((c) => `${Buffer.from(c.key, 'latin1').toString('hex')} ${rel} ${c.offset} ${c.length}\n`).join(''));
  }

  close(): void {
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
      const m = /^([0-9a-f]{64}) ([0-9a-f]\/[0-9a-f]{64}(?:\.\d{1,9})?) (\d{1,15}) (\d{1,9})$/.exec(line);
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
