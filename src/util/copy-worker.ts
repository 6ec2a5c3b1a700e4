import { parentPort } from 'node:worker_threads';
import { AlignedPool, COPY_BLOCK, copyFileDirectSync, type CopyJob, type CopyResult } from './direct-io.js';

/** The copy worker (see direct-io.ts): copies a file a message, with one aligned buffer. */
const pool = new AlignedPool(1, COPY_BLOCK);
let buf: Promise<Buffer | null> | null = null;

parentPort!.on('message', async ({ id, from, to, cancel }: CopyJob) => {
  const result: CopyResult = { id };
  if (Atomics.load(cancel, 0)) {
    result.calledOff = true;
    return parentPort!.postMessage(result);
  }
  try {
    copyFileDirectSync(from, to, await (buf ??= pool.take()));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    result.error = { code: e.code, message: e.message };
  }
  parentPort!.postMessage(result);
});
