import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { Cutter } from '../../src/chunker/cdc.js';
import { chunkBuffer } from '../../src/chunker/chunk-file.js';
import { DEFAULT_PARAMS } from '../../src/chunker/params.js';
import { scratch } from '../helpers/cli.js';

// The pool runs the built worker (dist/): from the TypeScript sources it has none to start.
const { HashPool } = (await import(path.resolve('dist/src/chunker/hash-pool.js'))) as typeof import('../../src/chunker/hash-pool.js');

describe('HashPool (the built worker threads)', () => {
  const s = scratch();
  afterAll(s.cleanup);
  const dir = path.join(s.dir, 'files');
  mkdirSync(dir);
  const files = [
    ...Array.from({ length: 150 }, (_, i) => ({ name: `small-${i}.jpg`, data: randomBytes(1000 + 150 * i) })),
    { name: 'big.bin', data: randomBytes(3 * 1024 * 1024) },
    { name: 'empty', data: Buffer.alloc(0) },
  ].map((f) => {
    const p = path.join(dir, f.name);
    writeFileSync(p, f.data);
    return { path: p, size: f.data.length };
  });

  it('hashes small files a batch a message, each with the chunk list chunking it here gives', async () => {
    const batches: number[] = [];
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, m: { jobs: unknown[] }, transfer?: readonly Transferable[]) {
      batches.push(m.jobs.length);
      return post.call(this, m, transfer as Transferable[]);
    };
    const pool = HashPool.create(DEFAULT_PARAMS, 2)!;
    try {
      const results = await Promise.all(files.map((f) => pool.chunk(f.path, f.size)));
      const cutter = new Cutter(DEFAULT_PARAMS);
      results.forEach((r, i) => {
        const want = chunkBuffer(readFileSync(files[i]!.path), cutter);
        expect([r.size, r.stable]).toEqual([files[i]!.size, true]);
        expect(Buffer.from(r.chunks.hashes).equals(Buffer.from(want.hashes))).toBe(true);
        expect([...r.chunks.lengths]).toEqual([...want.lengths]);
      });
    } finally {
      Worker.prototype.postMessage = post;
      await pool.close();
    }
    expect(batches.reduce((a, b) => a + b, 0)).toBe(files.length);
    // 150 files of 1-23 KB go in batches of up to a MiB: a few dozen messages, not one a file
    expect(batches.length).toBeLessThan(files.length / 4);
    expect(Math.max(...batches)).toBeLessThanOrEqual(64);
  });

  it('a file gone before its turn fails on its own; the rest of its batch is hashed', async () => {
    const pool = HashPool.create(DEFAULT_PARAMS, 2)!;
    try {
      rmSync(files[5]!.path);
      const results = await Promise.allSettled(files.slice(0, 20).map((f) => pool.chunk(f.path, f.size)));
      expect(results.map((r) => r.status)).toEqual(files.slice(0, 20).map((_, i) => (i === 5 ? 'rejected' : 'fulfilled')));
      expect((results[5] as PromiseRejectedResult).reason).toMatchObject({ code: 'ENOENT' });
    } finally {
      await pool.close();
    }
  });
});
