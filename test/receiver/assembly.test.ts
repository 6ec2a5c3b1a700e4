import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/chunker/chunk-file.js';
import { ChunkList } from '../../src/chunker/chunk-list.js';
import { emptyStats } from '../../src/engine/events.js';
import type { Entry } from '../../src/manifest/entry.js';
import { Assembly } from '../../src/receiver/assembly.js';
import { ChunkIndex } from '../../src/receiver/chunk-index.js';
import { noise } from '../helpers/data.js';

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

  it('copies chunks of an unchanged local file and wants only the new ones', async () => {
    const dir = tmp();
    const old = noise(256 * KiB, 1);
    const oldFile = path.join(dir, 'old.bin');
    writeFileSync(oldFile, old);
    const index = new ChunkIndex();
    index.addFile(oldFile, scanned(oldFile, old, 16 * KiB));
    const stats = emptyStats();
    const assembly = new Assembly(index, stats);
    // New version: the old data with 16 KiB of new data appended.
    const next = Buffer.concat([old, noise(16 * KiB, 2)]);
    const { file, want, local } = assembly.addFile(entryOf('next.bin', next, 16 * KiB), path.join(dir, 'staged'));
    expect(want.map((w) => w.index)).toEqual([16]);
    expect(local).toHaveLength(16);
    expect(await assembly.copyLocal(file, local)).toEqual([]);
    expect(stats.chunksLocal).toBe(16);
    await assembly.deliver(want[0]!.key, next.subarray(256 * KiB));
    expect(file.state).toBe('ready');
    assembly.close();
    expect(readFileSync(path.join(dir, 'staged')).equals(next)).toBe(true);
  });

  it('does not trust a local file that changed after it was scanned: stale chunks are wanted', async () => {
    const dir = tmp();
    const old = noise(128 * KiB, 3);
    const oldFile = path.join(dir, 'old.bin');
    writeFileSync(oldFile, old);
    const index = new ChunkIndex();
    index.addFile(oldFile, scanned(oldFile, old, 16 * KiB));
    // Rewritten after the scan: same size, the second half different.
    const changed = Buffer.from(old);
    noise(64 * KiB, 4).copy(changed, 64 * KiB);
    await new Promise((r) => setTimeout(r, 20)); // a new mtime even on a coarse clock
    writeFileSync(oldFile, changed);
    const assembly = new Assembly(index, emptyStats());
    const { file, want, local } = assembly.addFile(entryOf('copy.bin', old, 16 * KiB), path.join(dir, 'staged'));
    expect(want).toEqual([]);
    // Each chunk is then checked against its hash: the first half still matches, the rest is wanted.
    const missing = await assembly.copyLocal(file, local);
    expect(missing.map((m) => m.index)).toEqual([4, 5, 6, 7]);
    for (const m of missing) await assembly.deliver(m.key, old.subarray(m.offset, m.offset + m.length));
    expect(file.state).toBe('ready');
    assembly.close();
    expect(readFileSync(path.join(dir, 'staged')).equals(old)).toBe(true);
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
