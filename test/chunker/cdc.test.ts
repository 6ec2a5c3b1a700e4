import { randomBytes } from 'node:crypto';
import { closeSync, openSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cutter } from '../../src/chunker/cdc.js';
import { chunkBuffer, chunkFd, cutPoints, scanBuffer } from '../../src/chunker/chunk-file.js';
import { DEFAULT_PARAMS, validateParams } from '../../src/chunker/params.js';
import { scratch } from '../helpers/cli.js';

const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
function prng(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let s = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    b[i] = s & 0xff;
  }
  return b;
}

describe('content-defined chunker', () => {
  const cutter = new Cutter(DEFAULT_PARAMS);

  it('keeps chunk sizes within bounds with a mean within 15% of the average', () => {
    const data = randomBytes(64 * MiB);
    const cuts = cutPoints(data, cutter);
    expect(cuts[cuts.length - 1]).toBe(data.length);
    let prev = 0;
    const sizes = cuts.map((c) => {
      const s = c - prev;
      prev = c;
      return s;
    });
    for (const s of sizes.slice(0, -1)) {
      expect(s).toBeGreaterThan(DEFAULT_PARAMS.min);
      expect(s).toBeLessThanOrEqual(DEFAULT_PARAMS.max);
    }
    const mean = data.length / sizes.length;
    expect(mean).toBeGreaterThan(DEFAULT_PARAMS.avg * 0.85);
    expect(mean).toBeLessThan(DEFAULT_PARAMS.avg * 1.15);
  });

  it('is deterministic: the same bytes always give the same chunks', () => {
    const data = prng(8 * MiB, 42);
    const a = chunkBuffer(data, new Cutter(DEFAULT_PARAMS));
    const b = chunkBuffer(Buffer.from(data), new Cutter({ ...DEFAULT_PARAMS }));
    expect(a.equals(b)).toBe(true);
    // Pinned: the gear table and cut rule are part of the protocol (both sides must cut alike),
    // so a change here must come with a protocol version bump.
    expect(cutPoints(data, cutter).slice(0, 4)).toEqual([71536, 130514, 197828, 215098]);
    expect(a.hash(0).toString('hex').slice(0, 16)).toBe('03586b1efa33837f');
  });

  it('resists boundary shift: one byte inserted near the start leaves >= 95% of chunks shared', () => {
    const data = randomBytes(32 * MiB);
    const edited = Buffer.concat([data.subarray(0, 1000), Buffer.from([0x42]), data.subarray(1000)]);
    const a = chunkBuffer(data, cutter);
    const b = chunkBuffer(edited, cutter);
    const keys = new Set<string>();
    for (let i = 0; i < a.count; i++) keys.add(a.key(i));
    let shared = 0;
    for (let i = 0; i < b.count; i++) if (keys.has(b.key(i))) shared++;
    expect(shared / a.count).toBeGreaterThanOrEqual(0.95);
  });

  it('streams a file with bounded buffers and cuts exactly as on the whole buffer', async () => {
    const { dir, cleanup } = scratch();
    try {
      // Larger than the 4 MiB read block, with a size that is not a multiple of anything.
      const data = prng(13 * MiB + 12345, 7);
      const file = path.join(dir, 'f');
      await fsp.writeFile(file, data);
      const fd = openSync(file, 'r');
      const { chunks, size } = await chunkFd(fd, cutter, scanBuffer(cutter));
      closeSync(fd);
      expect(size).toBe(data.length);
      expect(chunks.equals(chunkBuffer(data, cutter))).toBe(true);
      expect(chunks.totalSize()).toBe(data.length);
    } finally {
      cleanup();
    }
  });

  it('does not let the split of input into reads change any cut', () => {
    const data = prng(3 * MiB, 9);
    const whole = cutPoints(data, cutter);
    // Feed growing prefixes as if data arrived in small reads: a cut found early must be final.
    for (const step of [4097, 65536 + 3, 250_001]) {
      const cuts: number[] = [];
      let start = 0;
      let end = 0;
      while (start < data.length) {
        const eof = end >= data.length;
        const len = cutter.cut(data, start, Math.min(end, data.length), eof);
        if (len === 0) {
          end += step;
          continue;
        }
        start += len;
        cuts.push(start);
      }
      expect(cuts).toEqual(whole);
    }
  });

  it('handles empty and tiny inputs', () => {
    expect(chunkBuffer(Buffer.alloc(0), cutter).count).toBe(0);
    const one = chunkBuffer(Buffer.from('x'), cutter);
    expect(one.count).toBe(1);
    expect(one.lengths[0]).toBe(1);
  });

  it('rejects invalid parameters', () => {
    expect(() => validateParams({ min: 1024, avg: 1000, max: 4096 })).toThrow(/power of two/);
    expect(() => validateParams({ min: 8192, avg: 4096, max: 16384 })).toThrow(/min < avg < max/);
  });
});
