import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Cutter } from './cdc.js';
import { ChunkListBuilder, type ChunkList } from './chunk-list.js';

const READ_BLOCK = 4 * 1024 * 1024;

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/**
 * Chunk and hash a file by streaming it through one reusable buffer of READ_BLOCK + max bytes, so
 * memory does not grow with the file. Returns the chunk list and the number of bytes read.
 */
export async function chunkFile(fh: FileHandle, cutter: Cutter): Promise<{ chunks: ChunkList; size: number }> {
  const max = cutter.params.max;
  const buf = Buffer.allocUnsafe(READ_BLOCK + max);
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
        const { bytesRead } = await fh.read(buf, end, buf.length - end, size);
        if (bytesRead === 0) eof = true;
        end += bytesRead;
        size += bytesRead;
      }
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
