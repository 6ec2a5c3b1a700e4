import { existsSync, linkSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/chunker/chunk-file.js';
import { ChunkList } from '../../src/chunker/chunk-list.js';
import { emptyStats } from '../../src/engine/events.js';
import { entryIdentity, type Entry } from '../../src/manifest/entry.js';
import { Assembly, CREATE_AHEAD, type FileChunk, type StagedFile } from '../../src/receiver/assembly.js';
import { ChunkIndex } from '../../src/receiver/chunk-index.js';
import { noise } from '../helpers/data.js';
import { cached, directWritesIn } from '../helpers/page-cache.js';

const KiB = 1024;

/** A file entry with fixed-size chunks, as a scan of `data` would describe it. */
function entryOf(rel: string, data: Buffer, chunk: number, stat?: Entry['stat'], mtimeNs = 0n): Entry {
  const hashes: Buffer[] = [];
  const lengths: number[] = [];
  for (let at = 0; at < data.length; at += chunk) {
    const piece = data.subarray(at, at + chunk);
    hashes.push(sha256(piece));
    lengths.push(piece.length);
  }
  return { path: rel, type: 'file', mode: 0o644, mtimeNs, size: data.length, chunks: new ChunkList(Buffer.concat(hashes), Uint32Array.from(lengths)), stat };
}

/** Index `file` as the destination scan does: with the stat identity it has now. */
function scanned(file: string, data: Buffer, chunk: number): Entry {
  const st = statSync(file, { bigint: true });
  return entryOf(path.basename(file), data, chunk, { ino: Number(st.ino), ctimeNs: st.ctimeNs }, st.mtimeNs);
}

/** `size` bytes of noise written to `dir/name` and indexed as the destination scan would. */
function oldVersion(dir: string, name: string, size: number, seed: number, chunk: number, index = new ChunkIndex()) {
  const old = noise(size, seed);
  const oldFile = path.join(dir, name);
  writeFileSync(oldFile, old);
  index.addFile(oldFile, scanned(oldFile, old, chunk));
  return { old, oldFile, index };
}

/**
 * Finish building `file` as a receiver would: copy the chunks it holds, deliver from `next` the
 * wanted ones and those the copy found gone or changed, then check the staged file is `next`.
 * Returns the chunks the copy found gone or changed.
 */
async function finishFile(assembly: Pick<Assembly, 'copyLocal' | 'deliver' | 'close' | 'releaseOldFiles'>, file: StagedFile, want: FileChunk[], local: FileChunk[], next: Buffer): Promise<FileChunk[]> {
  const missing = await assembly.copyLocal(file, local);
  for (const w of [...want, ...missing]) await assembly.deliver(w.key, next.subarray(w.offset, w.offset + w.length));
  expect(file.state).toBe('ready');
  assembly.close();
  assembly.releaseOldFiles(); // an old version copied is held open
  expect(readFileSync(file.staged).equals(next)).toBe(true);
  return missing;
}

describe('Assembly: building a staged file from chunks the receiver holds', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tmp = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'dsync-assembly-'));
    dirs.push(d);
    return d;
  };

  // Small runs are copied synchronously, large ones (over 1 MiB) in the thread pool: both paths.
  it.each([
    ['small', 256 * KiB, 16 * KiB],
    ['large', 6 * 1024 * KiB, 64 * KiB],
  ])('copies chunks of an unchanged local file and wants only the new ones (%s)', async (_, size, chunk) => {
    const dir = tmp();
    const { old, index } = oldVersion(dir, 'old.bin', size, 1, chunk);
    const stats = emptyStats();
    const assembly = new Assembly(index, stats);
    // New version: the old data with one chunk of new data appended.
    const next = Buffer.concat([old, noise(chunk, 2)]);
    const { file, want, local } = assembly.addFile(entryOf('next.bin', next, chunk), path.join(dir, 'staged'));
    const count = size / chunk;
    expect(want.map((w) => w.index)).toEqual([count]);
    expect(local).toHaveLength(count);
    expect(await assembly.copyLocal(file, local)).toEqual([]);
    expect(stats.chunksLocal).toBe(count);
    await assembly.deliver(want[0]!.key, next.subarray(size));
    expect(file.state).toBe('ready');
    assembly.close();
    expect(readFileSync(path.join(dir, 'staged')).equals(next)).toBe(true);
  });

  it.each([
    ['small', 128 * KiB, 16 * KiB],
    ['large', 4 * 1024 * KiB, 128 * KiB],
  ])('does not trust a local file that changed after it was scanned: stale chunks are wanted (%s)', async (_, size, chunk) => {
    const dir = tmp();
    const { old, oldFile, index } = oldVersion(dir, 'old.bin', size, 3, chunk);
    // Rewritten after the scan: same size, the second half different.
    const changed = Buffer.from(old);
    noise(size / 2, 4).copy(changed, size / 2);
    await new Promise((r) => setTimeout(r, 20)); // a new mtime even on a coarse clock
    writeFileSync(oldFile, changed);
    const assembly = new Assembly(index, emptyStats());
    const { file, want, local } = assembly.addFile(entryOf('copy.bin', old, chunk), path.join(dir, 'staged'));
    expect(want).toEqual([]);
    // Each chunk is then checked against its hash: the first half still matches, the rest is wanted.
    const missing = await assembly.copyLocal(file, local);
    const count = size / chunk;
    expect(missing.map((m) => m.index)).toEqual(Array.from({ length: count / 2 }, (_, i) => count / 2 + i));
    for (const m of missing) await assembly.deliver(m.key, old.subarray(m.offset, m.offset + m.length));
    expect(file.state).toBe('ready');
    assembly.close();
    expect(readFileSync(path.join(dir, 'staged')).equals(old)).toBe(true);
  });

  it('copies several large files at once, each from its own old version', async () => {
    const dir = tmp();
    const index = new ChunkIndex();
    // Three 4 MiB runs a file, in the thread pool.
    const versions = [7, 11, 13].map((seed) => oldVersion(dir, `old-${seed}.bin`, 9 * 1024 * KiB, seed, 64 * KiB, index).old);
    const assembly = new Assembly(index, emptyStats());
    const staged = versions.map((old, i) => ({ old, ...assembly.addFile(entryOf(`new-${i}`, old, 64 * KiB), path.join(dir, `staged-${i}`)) }));
    // Interleaved in the pool: a buffer shared between them would mix their data.
    const missing = await Promise.all(staged.map(({ file, local }) => assembly.copyLocal(file, local)));
    expect(missing).toEqual([[], [], []]);
    assembly.close();
    for (const [i, { file, old }] of staged.entries()) {
      expect(file.state).toBe('ready');
      expect(readFileSync(path.join(dir, `staged-${i}`)).equals(old)).toBe(true);
    }
  });

  it('creates a file with much local data to copy ahead of small new files staged before it', async () => {
    const dir = tmp();
    const { old, index } = oldVersion(dir, 'old.bin', 2 * 1024 * KiB, 10, 64 * KiB);
    const assembly = new Assembly(index, emptyStats());
    const small = Array.from({ length: 200 }, (_, i) => assembly.addFile(entryOf(`new-${i}`, noise(1024, 100 + i), 16 * KiB), path.join(dir, `small-${i}`)).file);
    const large = assembly.addFile(entryOf('changed', old, 64 * KiB), path.join(dir, 'large')).file;
    await large.created;
    const before = small.filter((f) => existsSync(f.staged)).length;
    await Promise.all(small.map((f) => f.created));
    assembly.close();
    expect(before).toBeLessThan(small.length);
  });

  it('creates files only so far ahead of their data, at once when data comes before its turn, never one that failed first', async () => {
    const dir = tmp();
    const assembly = new Assembly(new ChunkIndex(), emptyStats());
    const count = CREATE_AHEAD + 60;
    const data = Array.from({ length: count }, (_, i) => noise(1024, 300 + i));
    const staged = data.map((d, i) => assembly.addFile(entryOf(`new-${i}`, d, 16 * KiB), path.join(dir, `s-${i}`)));
    const settle = () => Promise.all(staged.map(({ file }) => file.created));
    const onDisk = () => staged.filter(({ file }) => existsSync(file.staged)).length;
    await settle();
    expect(onDisk()).toBe(CREATE_AHEAD);
    // Data for the last file, far beyond the window: it is created now, not after the others.
    const last = staged[count - 1]!;
    await assembly.deliver(last.want[0]!.key, data[count - 1]!);
    expect(last.file.state).toBe('ready');
    // A file whose chunk will not come, failed before its turn: nothing is created for it.
    const failing = staged[count - 2]!;
    expect(await assembly.fail(failing.want[0]!.key)).toEqual([failing.file]);
    // The rest, in order: each finished file lets the next one be created.
    for (let i = 0; i < count - 2; i++) await assembly.deliver(staged[i]!.want[0]!.key, data[i]!);
    await settle();
    assembly.close();
    expect(staged.filter(({ file }) => file.state === 'ready')).toHaveLength(count - 1);
    expect(existsSync(failing.file.staged)).toBe(false);
    for (let i = 0; i < count - 2; i++) expect(readFileSync(staged[i]!.file.staged).equals(data[i]!)).toBe(true);
    expect(readFileSync(last.file.staged).equals(data[count - 1]!)).toBe(true);
  });

  // The old version copied whole, then the changed chunks written over it (and cut to size).
  it.each([
    ['records appended', (old: Buffer) => Buffer.concat([old, noise(100 * KiB, 41)])],
    ['a chunk rewritten, the file cut shorter', (old: Buffer) => Buffer.concat([old.subarray(0, 512 * KiB), noise(64 * KiB, 43), old.subarray(576 * KiB, old.length - 128 * KiB)])],
  ])('builds a changed file over a copy of its old version when most of it is in place (%s)', async (_, change) => {
    const dir = tmp();
    const { old, oldFile, index } = oldVersion(dir, 'data.bin', 3 * 1024 * KiB, 31, 64 * KiB);
    const stats = emptyStats();
    const assembly = new Assembly(index, stats);
    const next = change(old);
    const entry = entryOf('data.bin', next, 64 * KiB);
    const { file, want, local } = assembly.addFile(entry, path.join(dir, 'staged'), oldFile);
    await file.created;
    expect(file.inPlace?.size).toBe(local.length);
    expect(await finishFile(assembly, file, want, local, next)).toEqual([]);
    expect(stats.chunksLocal).toBe(local.length);
  });

  // Begun before the chunk list came (the receiver knew only that the file changed). A copy made
  // already serves every chunk it left in place, however few; one still waiting for its turn is
  // called off when less than half the file stayed in place, and the file is built without it.
  it.each([
    ['most of it in place, the copy waiting', (old: Buffer) => Buffer.concat([old, noise(512 * KiB, 73)]), false, 48],
    ['a third in place, the copy waiting', (old: Buffer) => Buffer.concat([noise(2048 * KiB, 71), old.subarray(2048 * KiB)]), false, null],
    ['a third in place, the copy made', (old: Buffer) => Buffer.concat([noise(2048 * KiB, 71), old.subarray(2048 * KiB)]), true, 16],
    ['all of it moved, the file shorter, the copy waiting', (old: Buffer) => Buffer.concat([noise(128 * KiB, 63), old.subarray(0, old.length - 1024 * KiB)]), false, null],
    ['all of it moved, the file shorter, the copy made', (old: Buffer) => Buffer.concat([noise(128 * KiB, 63), old.subarray(0, old.length - 1024 * KiB)]), true, 0],
  ])('builds a changed file over its old version copied early (%s)', async (_, change, made, inPlace) => {
    const dir = tmp();
    const { old, oldFile, index } = oldVersion(dir, 'data.bin', 3 * 1024 * KiB, 61, 64 * KiB);
    const stats = emptyStats();
    const assembly = new Assembly(index, stats);
    const staged = path.join(dir, 'staged');
    const copy = assembly.copyOldEarly(staged, oldFile, entryIdentity(scanned(oldFile, old, 64 * KiB)));
    if (made) expect(await copy.done).toBe(true);
    const next = change(old);
    const { file, want, local } = assembly.addFile(entryOf('data.bin', next, 64 * KiB), staged, oldFile, copy);
    await file.created;
    expect(await copy.done).toBe(inPlace !== null); // false: called off before it began, nothing copied
    expect(file.inPlace?.size ?? null).toBe(inPlace);
    expect(await finishFile(assembly, file, want, local, next)).toEqual([]);
  });

  it('builds a file with thousands of chunks changed in place over its old version copied early', async () => {
    const dir = tmp();
    const chunk = 4 * KiB + 100; // 4000 chunks, their ends off block boundaries
    const { old, oldFile, index } = oldVersion(dir, 'data.bin', 4000 * chunk, 89, chunk);
    const next = Buffer.from(old);
    for (let i = 0; i < 4000; i += 3) noise(64, 90 + i).copy(next, i * chunk + 7); // every third chunk
    const assembly = new Assembly(index, emptyStats());
    const staged = path.join(dir, 'staged');
    const copy = assembly.copyOldEarly(staged, oldFile, entryIdentity(scanned(oldFile, old, chunk)));
    const { file, want, local } = assembly.addFile(entryOf('data.bin', next, chunk), staged, oldFile, copy);
    await file.created;
    expect(file.inPlace?.size).toBe(4000 - 1334);
    expect(await finishFile(assembly, file, want, local, next)).toEqual([]);
  });

  it('does not rely on an early copy whose old version changed after it was made: its chunks are checked one by one', async () => {
    const dir = tmp();
    const chunk = 64 * KiB + 100; // chunk ends off block boundaries
    const { old, oldFile, index } = oldVersion(dir, 'data.bin', 2 * 1024 * KiB, 83, chunk);
    const assembly = new Assembly(index, emptyStats());
    const staged = path.join(dir, 'staged');
    const copy = assembly.copyOldEarly(staged, oldFile, entryIdentity(scanned(oldFile, old, chunk)));
    expect(await copy.done).toBe(true);
    const changed = Buffer.from(old);
    noise(256 * KiB, 85).copy(changed, 512 * KiB); // rewritten after the copy
    await new Promise((r) => setTimeout(r, 20)); // a new mtime even on a coarse clock
    writeFileSync(oldFile, changed);
    const next = Buffer.from(old);
    noise(1000, 87).copy(next, 10 * chunk + 5); // one chunk changed in place
    const { file, want, local } = assembly.addFile(entryOf('data.bin', next, chunk), staged, oldFile, copy);
    await file.created;
    expect(file.inPlace).toBeNull();
    expect((await finishFile(assembly, file, want, local, next)).length).toBeGreaterThan(0); // the rewritten chunks, asked for again
  });

  it('does not copy an old version that changed after it was scanned: its chunks are checked one by one', async () => {
    const dir = tmp();
    const { old, oldFile, index } = oldVersion(dir, 'data.bin', 2 * 1024 * KiB, 51, 64 * KiB);
    const changed = Buffer.from(old);
    noise(1024 * KiB, 53).copy(changed, 1024 * KiB); // the second half rewritten after the scan
    await new Promise((r) => setTimeout(r, 20)); // a new mtime even on a coarse clock
    writeFileSync(oldFile, changed);
    const assembly = new Assembly(index, emptyStats());
    const next = Buffer.concat([old, noise(64 * KiB, 55)]);
    const { file, want, local } = assembly.addFile(entryOf('data.bin', next, 64 * KiB), path.join(dir, 'staged'), oldFile);
    await file.created;
    expect(file.inPlace).toBeNull();
    expect(await finishFile(assembly, file, want, local, next)).toHaveLength(16); // the rewritten half, asked for again
  });

  it('a file that fails while its old data is copied in the thread pool ends quietly', async () => {
    const dir = tmp();
    const { old, index } = oldVersion(dir, 'old.bin', 6 * 1024 * KiB, 5, 64 * KiB);
    const assembly = new Assembly(index, emptyStats());
    const next = Buffer.concat([old, noise(64 * KiB, 6)]);
    const staged = path.join(dir, 'staged');
    const { file, want, local } = assembly.addFile(entryOf('next.bin', next, 64 * KiB), staged);
    await file.created;
    const copying = assembly.copyLocal(file, local);
    await new Promise((r) => setImmediate(r)); // the first 4 MiB run is under way in the pool
    // Its one new chunk will not come (the source changed): the file fails and is removed.
    expect(await assembly.fail(want[0]!.key)).toEqual([file]);
    expect(await copying).toEqual([]);
    expect(file.state).toBe('failed');
    assembly.close();
    expect(existsSync(staged)).toBe(false);
  });

  it('never writes through a staged name that is another name of a destination file', async () => {
    // What an interrupted run's move (linkWhole) leaves in staging: a second name of a file the
    // destination still has. A later run staging other content under that name must not write it.
    const dir = tmp();
    const { old, oldFile, index } = oldVersion(dir, 'old.bin', 64 * KiB, 5, 16 * KiB);
    const staged = path.join(dir, 'staged');
    linkSync(oldFile, staged);
    const next = noise(64 * KiB, 6);
    const assembly = new Assembly(index, emptyStats());
    const { file, want } = assembly.addFile(entryOf('next.bin', next, 16 * KiB), staged);
    for (const w of want) await assembly.deliver(w.key, next.subarray(w.offset, w.offset + w.length));
    expect(file.state).toBe('ready');
    assembly.close();
    expect(readFileSync(oldFile).equals(old)).toBe(true);
    expect(readFileSync(staged).equals(next)).toBe(true);
    expect(statSync(staged).ino).not.toBe(statSync(oldFile).ino);
  });

  it('finishes an empty file at once', async () => {
    const dir = tmp();
    const assembly = new Assembly(new ChunkIndex(), emptyStats());
    const { file, want, local } = assembly.addFile(entryOf('empty', Buffer.alloc(0), 16 * KiB), path.join(dir, 'staged'));
    expect([want, local]).toEqual([[], []]);
    await assembly.copyLocal(file, local);
    expect(file.state).toBe('ready');
    assembly.close();
    expect(statSync(path.join(dir, 'staged')).size).toBe(0);
  });
});

describe('Assembly over an old version copied past the page cache (the built copy worker)', async () => {
  // From the TypeScript sources the kernel copies (through the page cache): the built module's
  // worker writes direct.
  const built = (await import(path.resolve('dist/src/receiver/assembly.js'))) as typeof import('../../src/receiver/assembly.js');
  const { ChunkIndex: BuiltIndex } = (await import(path.resolve('dist/src/receiver/chunk-index.js'))) as typeof import('../../src/receiver/chunk-index.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dsync-assembly-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const measurable = (await directWritesIn(dir)) && cached(dir) !== null;

  it.runIf(measurable)('puts the blocks that chunk writes cover in part in the page cache, from the old version', async () => {
    const chunk = 64 * KiB + 100; // chunk ends off block boundaries
    const { old, oldFile, index } = oldVersion(dir, 'data.bin', 4 * 1024 * KiB, 81, chunk, new BuiltIndex());
    const next = Buffer.from(old);
    noise(1000, 82).copy(next, 10 * chunk + 5); // one chunk changed in place
    const assembly = new built.Assembly(index, emptyStats());
    const staged = path.join(dir, 'staged');
    const copy = assembly.copyOldEarly(staged, oldFile, entryIdentity(scanned(oldFile, old, chunk)));
    expect(await copy.done).toBe(true);
    const entry = entryOf('data.bin', next, chunk);
    const { file, want, local } = assembly.addFile(entry, staged, oldFile, copy);
    await file.created;
    expect(file.inPlace?.size).toBe(entry.chunks!.count - 1);
    // The copy left nothing in the cache; the changed chunk's two end blocks are there now, so
    // writing it reads nothing from the disk.
    expect(cached(staged)).toBe(2 * 4096);
    expect(await finishFile(assembly, file, want, local, next)).toEqual([]);
  });
});
