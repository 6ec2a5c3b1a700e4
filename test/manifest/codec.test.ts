import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkList, HASH_LEN } from '../../src/chunker/chunk-list.js';
import { DEFAULT_PARAMS } from '../../src/chunker/params.js';
import { DsyncError } from '../../src/errors/dsync-error.js';
import { decodeEntry, DIGEST_LEN, encodeEntry, fileDigest, unhashed, type EntryForm } from '../../src/manifest/codec.js';
import type { Entry } from '../../src/manifest/entry.js';
import { CACHE_MAX_AGE_MS, cacheFileFor, decodeCache, encodeCache, PRUNE_EVERY_MS, StatCache } from '../../src/manifest/stat-cache.js';
import { decodeChunkLists, decodeEntries, encodeChunkLists, encodeEntries } from '../../src/protocol/messages.js';
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
  // announced unread (the sender's first contact, see scan.ts): no chunk list, no digest
  fc.record({ path: relPath, mode: fc.integer({ min: 0, max: 0o7777 }), mtimeNs: mtime, size: fc.nat(), ino: fc.nat(), ctimeNs: mtime }).map(
    (r): Entry => ({ path: r.path, type: 'file', mode: r.mode, mtimeNs: r.mtimeNs, size: r.size, stat: { ino: r.ino, ctimeNs: r.ctimeNs } }),
  ),
  fc.record({ path: relPath, mode: fc.integer({ min: 0, max: 0o7777 }), mtimeNs: mtime }).map((r): Entry => ({ ...r, type: 'dir', size: 0 })),
  fc.record({ path: relPath, target: fc.string({ minLength: 1, maxLength: 50 }).filter((s) => !s.includes('\0')), mtimeNs: mtime }).map((r): Entry => ({ ...r, type: 'symlink', mode: 0o777, size: 0 })),
);

/** What survives encoding in a form: the cache keeps chunk lists and stat, the wire a digest. */
function comparable(e: Entry, form: EntryForm) {
  const file = e.type === 'file';
  return {
    ...e,
    chunks: form === 'cache' && e.chunks ? [e.chunks.hashes.toString('hex'), [...e.chunks.lengths]] : undefined,
    digest: form === 'wire' && file && !unhashed(e) ? fileDigest(e).toString('hex') : undefined,
    stat: form === 'cache' && file ? e.stat : undefined,
  };
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
  it('round-trips every kind of entry, in the cache form and the wire form', () => {
    fc.assert(
      fc.property(entry, fc.constantFrom<EntryForm>('cache', 'wire'), (e, form) => {
        const w = new Writer();
        encodeEntry(w, e, form);
        const r = new Reader(w.finish(), 'test');
        const back = decodeEntry(r, P, form);
        r.end();
        expect(comparable(back, form)).toEqual(comparable(e, form));
      }),
    );
  });

  it('costs at most about 40 bytes per chunk, and a file on the wire its path and ~35 bytes whatever its size', () => {
    const n = 1000;
    const e: Entry = { path: 'data/shard-00001.jsonl', type: 'file', mode: 0o644, mtimeNs: 1_700_000_000_123_456_789n, size: n * P.max, chunks: new ChunkList(Buffer.alloc(n * HASH_LEN, 7), new Uint32Array(n).fill(P.max)) };
    expect(encodeChunkLists([{ index: 0, chunks: e.chunks! }]).length / n).toBeLessThanOrEqual(40);
    // count, type, path, mode, mtime, size and a 128-bit digest (random bytes: sent every run, for every file)
    expect(fileDigest(e).length).toBe(DIGEST_LEN);
    expect(DIGEST_LEN).toBe(16);
    expect(encodeEntries([e]).length).toBeLessThanOrEqual(e.path.length + 36);
  });

  it('chunk lists round-trip and are bounded by the entry they are for', () => {
    const chunks = new ChunkList(Buffer.alloc(2 * HASH_LEN, 9), Uint32Array.from([P.min, 100]));
    const e: Entry = { path: 'f', type: 'file', mode: 0o644, mtimeNs: 0n, size: P.min + 100 };
    const bytes = encodeChunkLists([{ index: 3, chunks }]);
    expect(decodeChunkLists(bytes, P, (i) => (i === 3 ? e : null))[0]!.chunks!.equals(chunks)).toBe(true);
    // No list: only for a file announced unread, which changed before the sender came to read it.
    const none = encodeChunkLists([{ index: 3, chunks: null }]);
    expect(decodeChunkLists(none, P, () => e)).toEqual([{ index: 3, chunks: null }]);
    expect(() => decodeChunkLists(none, P, () => ({ ...e, digest: Buffer.alloc(DIGEST_LEN) }))).toThrow(/kind 1/);
    expect(() => decodeChunkLists(bytes, P, () => null)).toThrow(/not asked for/);
    expect(() => decodeChunkLists(bytes, P, () => ({ ...e, size: 5 }))).toThrow(DsyncError);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => decodesOrRejects(() => decodeChunkLists(Buffer.from(b), P, () => e))));
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
    const w = new Writer();
    encodeEntry(w, { path: 'f', type: 'file', mode: 0o644, mtimeNs: 0n, size: 101, chunks: c }, 'cache');
    expect(() => decodeEntry(new Reader(w.finish(), 'x'), P, 'cache')).toThrow(/add up/);
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
        // Each file's digest comes back with it (an unchanged file is announced without hashing);
        // a file announced unread comes back unread, to be told later whether it moved.
        for (const [p, e] of files) {
          if (unhashed(e)) expect(unhashed(back.get(p)!)).toBe(true);
          else expect(fileDigest(back.get(p)!).equals(fileDigest(e))).toBe(true);
        }
        expect(() => decodeCache(data.subarray(0, data.length - 1), P)).toThrow(DsyncError);
        const flipped = Buffer.from(data);
        flipped[flipped.length >> 1] ^= 1;
        expect(() => decodeCache(flipped, P)).toThrow(DsyncError);
      }),
      { numRuns: 50 },
    );
  });

  it('gives back every chunk list whole, also past the blocks its lengths are decoded into', () => {
    // 1200 files of 1-40 chunks: 24k lengths, more than one of ListArena's blocks of 16k.
    const files = Array.from({ length: 1200 }, (_, i): Entry => {
      const n = 1 + ((i * 7) % 40);
      const lengths = Uint32Array.from({ length: n }, (_, k) => P.min + ((i * 31 + k * 17) % (P.max - P.min)));
      const hashes = Buffer.alloc(n * HASH_LEN, i % 251);
      hashes.writeUInt32BE(i, 0);
      const chunks = new ChunkList(hashes, lengths);
      return { path: `d/f${i}`, type: 'file', mode: 0o644, mtimeNs: BigInt(i), size: chunks.totalSize(), chunks, stat: { ino: i, ctimeNs: 1n } };
    });
    const back = decodeCache(encodeCache(P, files), P);
    for (const e of files) {
      const got = back.get(e.path)!.chunks!;
      expect([...got.lengths]).toEqual([...e.chunks!.lengths]);
      expect(got.hashes.equals(e.chunks!.hashes)).toBe(true);
      expect(fileDigest(back.get(e.path)!).equals(fileDigest(e))).toBe(true);
    }
  });

  it('is written back only when it would change', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dsync-cache-'));
    const saved = process.env.DSYNC_CACHE_DIR;
    process.env.DSYNC_CACHE_DIR = dir;
    try {
      const root = '/data/tree';
      const one: Entry = { path: 'a', type: 'file', mode: 0o644, mtimeNs: 1n, size: 0, chunks: ChunkList.EMPTY, stat: { ino: 7, ctimeNs: 2n } };
      await StatCache.empty().save(root, P, [one]);
      const file = cacheFileFor(root, P);
      const first = statSync(file, { bigint: true });
      // The same entries again: nothing is written (a rewrite would be a new inode: see writeFileAtomic).
      await (await StatCache.load(root, P)).save(root, P, [one]);
      expect(statSync(file, { bigint: true }).ino).toBe(first.ino);
      await (await StatCache.load(root, P)).save(root, P, [one, { ...one, path: 'b' }]);
      const second = statSync(file, { bigint: true });
      expect(second.ino).not.toBe(first.ino);
      expect([...decodeCache(readFileSync(file), P).keys()]).toEqual(['a', 'b']);
      // Equal content in other objects is still recognised (by its bytes), and any field that
      // differs (here the ctime a chmod would move) is written.
      const same = [...decodeCache(readFileSync(file), P).values()];
      await (await StatCache.load(root, P)).save(root, P, same);
      expect(statSync(file, { bigint: true }).ino).toBe(second.ino);
      await (await StatCache.load(root, P)).save(root, P, [same[0]!, { ...same[1]!, stat: { ino: 7, ctimeNs: 3n } }]);
      expect(statSync(file, { bigint: true }).ino).not.toBe(second.ino);
      expect(decodeCache(readFileSync(file), P).get('b')!.stat!.ctimeNs).toBe(3n);
    } finally {
      if (saved === undefined) delete process.env.DSYNC_CACHE_DIR;
      else process.env.DSYNC_CACHE_DIR = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lets go of the caches of trees not synced for CACHE_MAX_AGE_MS, looking at most once every PRUNE_EVERY_MS', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dsync-cache-'));
    const saved = process.env.DSYNC_CACHE_DIR;
    process.env.DSYNC_CACHE_DIR = dir;
    const age = (file: string, ms: number) => {
      const t = new Date(Date.now() - ms);
      utimesSync(file, t, t);
    };
    try {
      const one: Entry = { path: 'a', type: 'file', mode: 0o644, mtimeNs: 1n, size: 0, chunks: ChunkList.EMPTY, stat: { ino: 7, ctimeNs: 2n } };
      for (const root of ['/stable', '/old', '/recent']) await StatCache.empty().save(root, P, [one]);
      const [stable, old, recent] = ['/stable', '/old', '/recent'].map((r) => cacheFileFor(r, P));
      const leftover = `${old}.tmp-123-abcd`; // an interrupted write's
      writeFileSync(leftover, '');
      writeFileSync(path.join(dir, 'notes.txt'), ''); // not dsync's
      for (const f of [stable!, old!, leftover]) age(f, CACHE_MAX_AGE_MS - 1000);
      age(recent!, PRUNE_EVERY_MS);
      age(path.join(dir, 'notes.txt'), 2 * CACHE_MAX_AGE_MS);
      age(path.join(dir, 'last-prune'), PRUNE_EVERY_MS + 1000);
      // The stable tree is synced again, unchanged: not rewritten, but dated from this run.
      await (await StatCache.load('/stable', P)).save('/stable', P, [one]);
      expect(Date.now() - statSync(stable!).mtimeMs).toBeLessThan(60_000);
      // A month and more later, the next run's save removes what nobody synced since.
      for (const f of [stable!, old!, leftover]) age(f, CACHE_MAX_AGE_MS + 1000);
      age(stable!, 1000);
      age(path.join(dir, 'last-prune'), PRUNE_EVERY_MS + 1000);
      await (await StatCache.load('/stable', P)).save('/stable', P, [one]);
      expect(readdirSync(dir).sort()).toEqual([path.basename(recent!), path.basename(stable!), 'last-prune', 'notes.txt'].sort());
      // Looked through at most once a day: an old cache found later waits for the next day.
      age(recent!, CACHE_MAX_AGE_MS + 1000);
      await (await StatCache.load('/stable', P)).save('/stable', P, [one]);
      expect(existsSync(recent!)).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.DSYNC_CACHE_DIR;
      else process.env.DSYNC_CACHE_DIR = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is not used with other chunk parameters', () => {
    const data = encodeCache(P, []);
    expect(() => decodeCache(data, { min: 1024, avg: 4096, max: 16384 })).toThrow(/different chunk parameters/);
  });
});
