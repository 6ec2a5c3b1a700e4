import { hash } from 'node:crypto';
import { readSync } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Cutter } from './cdc.js';
import { ChunkListBuilder, type ChunkList } from './chunk-list.js';

export const READ_BLOCK = 4 * 1024 * 1024;

export function sha256(data: Uint8Array): Buffer {
  return hash('sha256', data, 'buffer'); // one call, no Hash object per chunk
}

/** The buffer a chunking pass needs, in the cutter's own memory; made once per scan, reused for every file. */
export function scanBuffer(cutter: Cutter): Buffer {
  return cutter.scanBuffer(READ_BLOCK + cutter.params.max);
}

/**
 * Chunk and hash an open file by streaming it through `buf` (see scanBuffer), so memory does not
 * grow with the file. Reads are synchronous (page-cache reads are cheaper than a thread-pool round
 * trip); the event loop gets a turn after every block so the connection stays serviced.
 */
export async function chunkFd(fd: number, cutter: Cutter, buf: Buffer): Promise<{ chunks: ChunkList; size: number }> {
  const max = cutter.params.max;
  const out = new ChunkListBuilder();
  let start = 0;
  let end = 0;
  let eof = false;
  let size = 0;
  for (;;) {
    if (!eof && end - start < max) {
      buf.copyWithin(0, start, end);
      end -= start;
      start = 0;
      while (!eof && end < buf.length) {
        const n = readSync(fd, buf, end, buf.length - end, size);
        if (n === 0) eof = true;
        end += n;
        size += n;
      }
      if (!eof) await yieldToLoop();
    }
    if (start === end && eof) break;
    const len = cutter.cut(buf, start, end, eof);
    if (len === 0) continue; // less than max buffered before EOF: refill above
    out.push(sha256(buf.subarray(start, start + len)), len);
    start += len;
  }
  return { chunks: out.finish(), size };
}

/** Chunk an in-memory buffer (tests and benchmarks). */
export function chunkBuffer(data: Uint8Array, cutter: Cutter): ChunkList {
  const out = new ChunkListBuilder();
  for (let p = 0; p < data.length; ) {
    const len = cutter.cut(data, p, data.length, true);
    out.push(sha256(data.subarray(p, p + len)), len);
    p += len;
  }
  return out.finish();
}

/** Cut points only, without hashing (benchmarks). */
export function cutPoints(data: Uint8Array, cutter: Cutter): number[] {
  const cuts: number[] = [];
  for (let p = 0; p < data.length; ) {
    p += cutter.cut(data, p, data.length, true);
    cuts.push(p);
  }
  return cuts;
}
