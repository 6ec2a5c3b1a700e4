import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkList, HASH_LEN } from '../../src/chunker/chunk-list.js';
import { DEFAULT_PARAMS } from '../../src/chunker/params.js';
import { DsyncError } from '../../src/errors/dsync-error.js';
import { decodeEntry, encodeEntry } from '../../src/manifest/codec.js';
import type { Entry } from '../../src/manifest/entry.js';
import { decodeCache, encodeCache } from '../../src/manifest/stat-cache.js';
import { decodeEntries, encodeEntries } from '../../src/protocol/messages.js';
import { Reader, Writer } from '../../src/util/binary.js';

const P = DEFAULT_PARAMS;
const name = fc.stringMatching(/^[^/\0]{1,20}$/).filter((s) => s !== '.' && s !== '..');
const relPath = fc.array(name, { minLength: 1, maxLength: 4 }).map((p) => p.join('/'));
const mtime = fc.bigInt({ min: -(10n ** 18n), max: 4n * 10n ** 18n });

const chunkLists = fc.array(fc.integer({ min: P.min, max: P.max }), { maxLength: 20 }).chain((lens) =>
  fc.tuple(fc.constant(lens), fc.uint8Array({ minLength: lens.length * HASH_LEN, maxLength: lens.length * HASH_LEN }), fc.integer({ min: 1, max: P.max })).map(([l, h, last]) => {
    const lengths = Uint32Array.from(l.length ? [...l.slice(0, -1), last] : []);
    return new ChunkList(Buffer.from(h), lengths);
  }),
);

const entry: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({ path: relPath, mode: fc.integer({ min: 0, max: 0o7777 }), mtimeNs: mtime, chunks: chunkLists, ino: fc.nat(), ctimeNs: mtime }).map(
    (r): Entry => ({ path: r.path, type: 'file', mode: r.mode, mtimeNs: r.mtimeNs, size: r.chunks.totalSize(), chunks: r.chunks, stat: { ino: r.ino, ctimeNs: r.ctimeNs } }),
  ),
  fc.record({ path: relPath, mode: fc.integer({ min: 0, max: 0o7777 }), mtimeNs: mtime }).map((r): Entry => ({ ...r, type: 'dir', size: 0 })),
  fc.record({ path: relPath, target: fc.string({ minLength: 1, maxLength: 50 }).filter((s) => !s.includes('\0')), mtimeNs: mtime }).map((r): Entry => ({ ...r, type: 'symlink', mode: 0o777, size: 0 })),
);

function comparable(e: Entry, withStat: boolean) {
  return { ...e, chunks: e.chunks ? [e.chunks.hashes.toString('hex'), [...e.chunks.lengths]] : undefined, stat: withStat && e.type === 'file' ? e.stat : undefined };
}

/** A decoder of untrusted bytes may only succeed or throw a PROTOCOL DsyncError. */
function decodesOrRejects(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DsyncError);
    expect((err as DsyncError).code).toBe('PROTOCOL');
  }
}

describe('manifest codec', () => {
  it('round-trips every kind of entry, with and without stat fields', () => {
    fc.assert(
      fc.property(entry, fc.boolean(), (e, withStat) => {
        const w = new Writer();
        encodeEntry(w, e, withStat);
        const r = new Reader(w.finish(), 'test');
        const back = decodeEntry(r, P, withStat);
        r.end();
        expect(comparable(back, withStat)).toEqual(comparable(e, withStat));
      }),
    );
  });

  it('costs at most about 40 bytes per chunk', () => {
    const n = 1000;
    const e: Entry = { path: 'data/shard-00001.jsonl', type: 'file', mode: 0o644, mtimeNs: 1_700_000_000_123_456_789n, size: n * P.max, chunks: new ChunkList(Buffer.alloc(n * HASH_LEN, 7), new Uint32Array(n).fill(P.max)) };
    expect(encodeEntries([e]).length / n).toBeLessThanOrEqual(40);
  });

  it('rejects every truncation of a valid batch', () => {
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 5 }), (es) => {
        const bytes = encodeEntries(es);
        for (let cut = 0; cut < bytes.length; cut += Math.max(1, bytes.length >> 5)) {
          expect(() => decodeEntries(bytes.subarray(0, cut), P)).toThrow(DsyncError);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('never crashes on corrupted or random input', () => {
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (es, flips) => {
        const bytes = Buffer.from(encodeEntries(es));
        for (const [pos, v] of flips) bytes[pos % bytes.length] = v;
        decodesOrRejects(() => decodeEntries(bytes, P));
      }),
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => decodesOrRejects(() => decodeEntries(Buffer.from(b), P))));
  });

  it('rejects paths that could escape the tree', () => {
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', 'a/./b', 'a/', '.']) {
      const w = new Writer().uvar(1);
      encodeEntry(w, { path: bad, type: 'dir', mode: 0o755, mtimeNs: 0n, size: 0 }, false);
      expect(() => decodeEntries(w.finish(), P)).toThrow(/bad path component|malformed/);
    }
  });

  it('rejects chunk lengths that do not add up to the file size', () => {
    const c = new ChunkList(Buffer.alloc(HASH_LEN), Uint32Array.from([100]));
    const w = new Writer().uvar(1);
    encodeEntry(w, { path: 'f', type: 'file', mode: 0o644, mtimeNs: 0n, size: 101, chunks: c }, false);
    expect(() => decodeEntries(w.finish(), P)).toThrow(/add up/);
  });
});

describe('stat cache file', () => {
  it('round-trips and detects a torn or corrupted file', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 5 }), (es) => {
        const files = new Map(es.filter((e) => e.type === 'file').map((e) => [e.path, e]));
        const data = encodeCache(P, files.values());
        const back = decodeCache(data, P);
        expect([...back.keys()].sort()).toEqual([...files.keys()].sort());
        expect(() => decodeCache(data.subarray(0, data.length - 1), P)).toThrow(DsyncError);
        const flipped = Buffer.from(data);
        flipped[flipped.length >> 1] ^= 1;
        expect(() => decodeCache(flipped, P)).toThrow(DsyncError);
      }),
      { numRuns: 50 },
    );
  });

  it('is not used with other chunk parameters', () => {
    const data = encodeCache(P, []);
    expect(() => decodeCache(data, { min: 1024, avg: 4096, max: 16384 })).toThrow(/different chunk parameters/);
  });
});
