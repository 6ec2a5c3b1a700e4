import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { Cutter } from './cdc.js';
import { chunkFd, scanBuffer } from './chunk-file.js';
import type { ChunkParams } from './params.js';
import type { ChunkJob, ChunkResult } from './hash-pool.js';

/** A worker thread that chunks and hashes whole files for the HashPool, a batch a message. */
let cutter: Cutter | null = null;
let buf: Buffer | null = null;

parentPort!.on('message', async ({ jobs, params }: { jobs: ChunkJob[]; params: ChunkParams }) => {
  cutter ??= new Cutter(params);
  buf ??= scanBuffer(cutter);
  const results: ChunkResult[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const job of jobs) {
    const res = await chunkOne(job, cutter, buf);
    if ('hashes' in res) transfer.push(res.hashes, res.lengths);
    results.push(res);
  }
  parentPort!.postMessage(results, transfer);
});

async function chunkOne(job: ChunkJob, cutter: Cutter, buf: Buffer): Promise<ChunkResult> {
  try {
    const fd = openSync(job.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const before = fstatSync(fd, { bigint: true });
      if (!before.isFile()) return { id: job.id, error: 'ENOTFILE' };
      const { chunks, size } = await chunkFd(fd, cutter, buf);
      const after = fstatSync(fd, { bigint: true });
      const stable = BigInt(size) === before.size && after.size === before.size && after.mtimeNs === before.mtimeNs && after.ctimeNs === before.ctimeNs;
      const hashes = new Uint8Array(chunks.hashes).buffer;
      const lengths = chunks.lengths.slice().buffer;
      return { id: job.id, stable, size, hashes, lengths, st: { mode: Number(after.mode & 0o7777n), mtimeNs: after.mtimeNs, ctimeNs: after.ctimeNs, ino: after.ino } };
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return { id: job.id, error: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}
