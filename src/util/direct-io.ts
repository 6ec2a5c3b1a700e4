import { closeSync, constants, copyFileSync, existsSync, ftruncateSync, openSync, promises as fsp, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { preadFull, pwriteFull, pwriteInPool } from './fd-cache.js';

/*
 * Writing past the page cache (O_DIRECT) where a receiver writes much: a buffered write of a
 * large copy puts it in fresh page-cache pages, and on a virtual machine that hands free memory
 * back to its host (free page reporting), first touching such pages is what the copy spends its
 * time on. Measured here on the old versions of a next-day update's five changed shards (235 MB,
 * four at once): 305-372 ms and 560-600 ms of CPU copied by the kernel (copy_file_range),
 * 120-130 ms and 40-60 ms of CPU written direct. The data has to reach the disk before it is
 * published anyway, and it no longer waits in the page cache for the flush before publishing.
 */

/** Offsets, lengths and addresses of direct writes are multiples of this. */
export const ALIGN = 4096;
const WASM_PAGE = 65536;

/**
 * A fixed set of page-aligned buffers, taken and given back. Node has no call for an aligned
 * Buffer, but a WebAssembly memory is mapped on its own and starts on a page boundary, so slices
 * of one at multiples of 64 KiB are aligned. Made at first use; where it cannot be made (a limit
 * on address space), take() gives null and the caller does without direct writes.
 */
export class AlignedPool {
  private free: Buffer[] | null | undefined; // undefined: not made yet; null: cannot be
  private readonly waiting: ((b: Buffer) => void)[] = [];
  private static readonly memories = new WeakSet<ArrayBufferLike>();

  constructor(
    private readonly count: number,
    readonly size: number,
  ) {}

  /** A buffer of `size` bytes, once one is free. */
  async take(): Promise<Buffer | null> {
    if (this.free === undefined) {
      const span = Math.ceil(this.size / WASM_PAGE) * WASM_PAGE;
      try {
        const memory = new WebAssembly.Memory({ initial: (this.count * span) / WASM_PAGE }).buffer;
        AlignedPool.memories.add(memory);
        this.free = Array.from({ length: this.count }, (_, i) => Buffer.from(memory, i * span, this.size));
      } catch {
        this.free = null;
      }
    }
    if (!this.free) return null;
    return this.free.pop() ?? new Promise((resolve) => this.waiting.push(resolve));
  }

  give(b: Buffer): void {
    const next = this.waiting.shift();
    if (next) next(b);
    else this.free!.push(b);
  }

  /** Whether `data` lies in a pooled buffer at the same place within a page as `position` in a file. */
  static alignedFor(data: Buffer, position: number): boolean {
    return AlignedPool.memories.has(data.buffer) && (data.byteOffset - position) % ALIGN === 0;
  }
}

/** `path` opened for direct writes, or null where its filesystem refuses them. */
export async function openDirect(path: string, flags = 0, mode?: number): Promise<FileHandle | null> {
  try {
    return await fsp.open(path, constants.O_WRONLY | constants.O_DIRECT | flags, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return null;
    throw err;
  }
}

/**
 * Write `data` at `position` of a file open both buffered (`fd`) and for direct writes
 * (`direct`): the whole pages it covers go direct, the partial pages at its ends through the page
 * cache (no other write shares those whole pages, so the two never overlap). False, with nothing
 * written direct, where the filesystem refused a direct write (the caller stops trying); all of
 * `data` is written either way. `data` must be alignedFor `position`.
 */
export async function pwriteDirect(fd: number, direct: number, data: Buffer, position: number): Promise<boolean> {
  const end = position + data.length;
  const from = Math.ceil(position / ALIGN) * ALIGN;
  const to = Math.floor(end / ALIGN) * ALIGN;
  if (to - from < ALIGN) {
    await pwriteInPool(fd, data, position);
    return true;
  }
  try {
    await pwriteInPool(direct, data.subarray(from - position, to - position), from);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    await pwriteInPool(fd, data, position);
    return false;
  }
  if (from > position) await pwriteInPool(fd, data.subarray(0, from - position), position);
  if (end > to) await pwriteInPool(fd, data.subarray(to - position), to);
  return true;
}

/** Bytes each read and direct write of copyFileDirectSync moves. */
export const COPY_BLOCK = 4 * 1024 * 1024;

/**
 * Copy all of `from` to `to`, which must not exist yet, writing it direct through `buf`
 * (COPY_BLOCK bytes, aligned; `to` is made with mode 0600). Where that cannot be done (no aligned
 * buffer, a filesystem that refuses direct writes) the kernel copies it (copy_file_range)
 * instead. Synchronous: it runs on the copy worker's thread (see copyFileDirect).
 */
export function copyFileDirectSync(from: string, to: string, buf: Buffer | null): void {
  if (!buf) return copyFileSync(from, to, constants.COPYFILE_EXCL);
  const src = openSync(from, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let dst: number;
    try {
      dst = openSync(to, constants.O_WRONLY | constants.O_DIRECT | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      return copyFileSync(from, to, constants.COPYFILE_EXCL);
    }
    let done: boolean;
    try {
      done = copyInto(src, dst, buf);
    } finally {
      closeSync(dst);
    }
    if (!done) {
      rmSync(to, { force: true });
      copyFileSync(from, to, constants.COPYFILE_EXCL);
    }
  } finally {
    closeSync(src);
  }
}

/** Copy src into the empty dst, opened O_DIRECT; false if the filesystem refused a direct write. */
function copyInto(src: number, dst: number, buf: Buffer): boolean {
  for (let at = 0; ; at += COPY_BLOCK) {
    const n = preadFull(src, buf, COPY_BLOCK, at);
    if (n === 0) return true;
    // The last block is written whole, zeros after the data, and the file cut back after.
    const padded = Math.ceil(n / ALIGN) * ALIGN;
    buf.fill(0, n, padded);
    try {
      pwriteFull(dst, buf.subarray(0, padded), at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EINVAL' && at === 0) return false;
      throw err;
    }
    if (n < COPY_BLOCK) {
      if (padded !== n) ftruncateSync(dst, at + n);
      return true;
    }
  }
}

const WORKER = fileURLToPath(new URL('./copy-worker.js', import.meta.url));

interface PendingCopy {
  resolve: (copied: boolean) => void;
  reject: (err: Error) => void;
  settled: () => void;
}

/**
 * Copies handed to one worker thread, which makes them one after another. Driven from the main
 * thread, a copy waited for it twice a block, and the receiver's main thread is busy while copies
 * run (the manifest, the destination's scan, planning): 183 MB of shards took 245 ms that way,
 * against 125 ms alone. Each copy is posted at once, so the next begins as the last ends. Handed
 * out one at a time, the worker sat idle 80-100 ms after the first copy of a next-day update,
 * until the busy main thread read its answer; its five copies now end 40-100 ms sooner (the
 * update as a whole does not: the sender's side then ends it). A copy no longer wanted is called
 * off through a flag the two threads share, which the worker reads when its turn comes.
 */
class CopyWorker {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, PendingCopy>();

  static readonly available = existsSync(WORKER);

  copy(from: string, to: string, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const cancel = new Int32Array(new SharedArrayBuffer(4));
      const callOff = () => Atomics.store(cancel, 0, 1);
      signal?.addEventListener('abort', callOff, { once: true });
      this.pending.set(id, { resolve, reject, settled: () => signal?.removeEventListener('abort', callOff) });
      const w = (this.worker ??= this.start());
      w.ref();
      w.postMessage({ id, from, to, cancel } satisfies CopyJob);
    });
  }

  private start(): Worker {
    const w = new Worker(WORKER);
    w.on('message', ({ id, error, calledOff }: CopyResult) => {
      const job = this.take(id);
      if (!job) return;
      if (!this.pending.size) w.unref(); // an idle worker never keeps the process alive
      if (error) job.reject(Object.assign(new Error(error.message), { code: error.code }));
      else job.resolve(!calledOff);
    });
    w.on('error', (err: Error) => this.fail(w, err));
    w.on('exit', () => this.fail(w, new Error('the copy worker ended')));
    return w;
  }

  private take(id: number): PendingCopy | undefined {
    const job = this.pending.get(id);
    this.pending.delete(id);
    job?.settled();
    return job;
  }

  /** A worker that died fails the copies posted to it; the next copy starts another. */
  private fail(w: Worker, err: Error): void {
    if (this.worker !== w) return;
    this.worker = null;
    for (const id of [...this.pending.keys()]) this.take(id)!.reject(err);
  }
}

export interface CopyJob {
  id: number;
  from: string;
  to: string;
  /** Set to 1 (by the main thread) to call the copy off if it has not begun. */
  cancel: Int32Array;
}

export interface CopyResult {
  id: number;
  error?: { code?: string; message: string };
  calledOff?: boolean;
}

const copier = new CopyWorker();

/**
 * copyFileDirectSync on the copy worker's thread; where there is no worker (running from the
 * TypeScript sources) the kernel copies the file. False, with nothing made, if `signal` called
 * the copy off before it began (it waits its turn behind the copies asked for before it).
 */
export async function copyFileDirect(from: string, to: string, signal?: AbortSignal): Promise<boolean> {
  if (CopyWorker.available) return copier.copy(from, to, signal);
  if (signal?.aborted) return false;
  await fsp.copyFile(from, to, constants.COPYFILE_EXCL);
  return true;
}
