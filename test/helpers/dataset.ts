import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { noise } from './data.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A small deterministic PRNG (xorshift32), so the trees are the same on every run. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Tokenised-text-style JSON lines from a skewed vocabulary: compressible, like a training shard. */
function textRecords(rand: () => number, firstId: number, bytes: number): string {
  const syll = ['ka', 'to', 'ri', 'mu', 'se', 'na', 'lo', 'vi', 'de', 'pa', 'zo', 'ex', 'an', 'or'];
  const lines: string[] = [];
  let size = 0;
  for (let id = firstId; size < bytes; id++) {
    const words = Array.from({ length: 40 + Math.floor(rand() * 200) }, () => {
      const w = Math.floor(rand() * rand() * 400); // low ids far more often
      return syll[w % syll.length]! + syll[(w >> 3) % syll.length]! + (w > 200 ? syll[w % 7]! : '');
    });
    const line = `${JSON.stringify({ id, source: ['web', 'books', 'code', 'wiki'][id % 4], text: words.join(' ') })}\n`;
    lines.push(line);
    size += line.length;
  }
  return lines.join('');
}

/** float32 rows near a per-row base: low-entropy exponents, noisy mantissas (somewhat compressible). */
function arrayBytes(rand: () => number, rows: number, cols: number): Buffer {
  const b = Buffer.allocUnsafe(rows * cols * 4);
  for (let r = 0; r < rows; r++) {
    const base = rand();
    for (let c = 0; c < cols; c++) b.writeFloatLE(base + (rand() - 0.5) * 0.02, (r * cols + c) * 4);
  }
  return b;
}

function write(file: string, data: string | Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
}

/**
 * A training-dataset-shaped tree (v1, about 20 MiB: text shards, ~330 image-like blobs in class
 * directories, float arrays, metadata with a symlink) and its next-day version (v2: appends, an
 * insertion at the front of a shard, scattered edits, a rewritten array slice, new and deleted
 * images, a renamed class directory, mtime-only touches), the same shape as the benchmark's.
 */
export function makeDataset(dir: string): { v1: string; v2: string } {
  const v1 = path.join(dir, 'v1');
  const v2 = path.join(dir, 'v2');
  const rand = prng(20261125);
  for (let i = 0; i < 4; i++) write(path.join(v1, 'text', `shard-${String(i).padStart(5, '0')}.jsonl`), textRecords(rand, i * 1_000_000, 2 * MiB));
  for (let c = 0; c < 8; c++) {
    for (let i = 0; i < 40; i++) write(path.join(v1, 'images', `cls-${String(c).padStart(3, '0')}`, `img-${String(i).padStart(5, '0')}.jpg`), noise(8 * KiB + Math.floor(rand() * 24 * KiB), c * 1000 + i + 1));
  }
  for (let i = 0; i < 2; i++) write(path.join(v1, 'arrays', `emb-${i}.npy`), arrayBytes(rand, 2048, 256));
  write(path.join(v1, 'meta', 'info.json'), JSON.stringify({ name: 'sample', version: 1 }));
  write(path.join(v1, 'meta', 'private.json'), JSON.stringify({ token: 'not really' }));
  chmodSync(path.join(v1, 'meta', 'private.json'), 0o600);
  symlinkSync('info.json', path.join(v1, 'meta', 'latest.json'));
  const old = new Date('2026-01-02T03:04:05Z');
  for (const d of ['text', 'arrays', 'meta']) for (const f of readdirSync(path.join(v1, d))) utimesSync(path.join(v1, d, f), old, old);

  execFileSync('cp', ['-a', v1, v2]); // nanosecond mtimes (fs.cpSync rounds them through a double)
  const shard = (i: number) => path.join(v2, 'text', `shard-${String(i).padStart(5, '0')}.jsonl`);
  for (const i of [0, 1]) write(shard(i), readFileSync(shard(i), 'utf8') + textRecords(rand, 5_000_000 + i * 1000, 128 * KiB));
  write(shard(2), textRecords(rand, 6_000_000, 64 * KiB) + readFileSync(shard(2), 'utf8'));
  const edited = readFileSync(shard(3));
  for (let e = 0; e < 60; e++) edited.write('EDITED', Math.floor(rand() * (edited.length - 8)));
  write(shard(3), edited);
  const arr = readFileSync(path.join(v2, 'arrays', 'emb-0.npy'));
  arrayBytes(rand, 64, 256).copy(arr, 512 * 1024);
  write(path.join(v2, 'arrays', 'emb-0.npy'), arr);
  for (let i = 0; i < 15; i++) write(path.join(v2, 'images', 'cls-007', `img-new-${i}.jpg`), noise(16 * KiB, 90_000 + i));
  for (let i = 0; i < 10; i++) rmSync(path.join(v2, 'images', 'cls-006', `img-${String(i).padStart(5, '0')}.jpg`));
  renameSync(path.join(v2, 'images', 'cls-000'), path.join(v2, 'images', 'cls-000-renamed'));
  const touched = new Date('2026-11-24T00:00:00Z');
  for (let i = 0; i < 5; i++) utimesSync(path.join(v2, 'images', 'cls-005', `img-${String(i).padStart(5, '0')}.jpg`), touched, touched);
  return { v1, v2 };
}
