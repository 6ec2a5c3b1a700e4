import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ChunkList } from './chunk-list.js';
import type { ChunkParams } from './params.js';

export interface ChunkJob {
  id: number;
  path: string;
}

export type ChunkResult =
  | { id: number; error: string }
  | {
      id: number;
      stable: boolean; // size, mtime and ctime did not move while the file was read
      size: number;
      hashes: ArrayBuffer;
      lengths: ArrayBuffer;
      st: { mode: number; mtimeNs: bigint; ctimeNs: bigint; ino: bigint };
    };

export interface Chunked {
  chunks: ChunkList;
  stable: boolean;
  size: number;
  st: { mode: number; mtimeNs: bigint; ctimeNs: bigint; ino: bigint };
}

const BATCH_BYTES = 1024 * 1024;
const BATCH_FILES = 64;

const WORKER = fileURLToPath(new URL('./hash-worker.js', import.meta.url));

/**
 * Chunking and hashing spread over worker threads: a scan is CPU-bound (gear hash + SHA-256 at
 * ~850 MiB/s a core), so files are chunked on every core while the main thread walks and talks
 * to the other side. Unavailable (null from create) when running from TypeScript sources.
 */
export class HashPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { job: ChunkJob; size: number; resolve: (r: ChunkResult) => void }[] = [];
  private readonly waiting = new Map<number, (r: ChunkResult) => void>();
  private nextId = 0;

  private constructor(
    private readonly size: number,
    private readonly params: ChunkParams,
  ) {}

  static create(params: ChunkParams, size = Math.min(4, os.availableParallelism())): HashPool | null {
    if (size < 2 || !existsSync(WORKER)) return null;
    return new HashPool(size, params);
  }

  /**
   * Workers start with the first file that must be read: a scan the stat cache answers whole
   * (the common nightly run) then costs no thread start-ups, which take the CPU the run needs.
   */
  private start(): void {
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(WORKER);
      w.on('message', (results: ChunkResult[]) => {
        this.idle.push(w);
        this.pump();
        for (const r of results) {
          const resolve = this.waiting.get(r.id)!;
          this.waiting.delete(r.id);
          resolve(r);
        }
      });
      w.unref();
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  /** Chunk and hash the file at `path`, `size` bytes as last seen (to batch small files). */
  chunk(path: string, size: number): Promise<Chunked> {
    if (this.workers.length === 0) this.start();
    return new Promise<ChunkResult>((resolve) => {
      this.queue.push({ job: { id: this.nextId++, path }, size, resolve });
      this.pump();
    }).then((r) => {
      if ('error' in r) throw Object.assign(new Error(`${r.error}: ${path}`), { code: r.error });
      const chunks = r.size === 0 ? ChunkList.EMPTY : new ChunkList(Buffer.from(r.hashes), new Uint32Array(r.lengths));
      return { chunks, stable: r.stable, size: r.size, st: r.st };
    });
  }

  /**
   * Hand each idle worker the next file, with the small files queued behind it up to BATCH_BYTES
   * (and BATCH_FILES): a message each way per file cost the 6000 JPEGs of a first copy 12 000
   * thread wake-ups, 55 us of CPU each here.
   */
  private pump(): void {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.pop()!;
      const jobs: ChunkJob[] = [];
      let bytes = 0;
      do {
        const { job, size, resolve } = this.queue.shift()!;
        this.waiting.set(job.id, resolve);
        jobs.push(job);
        bytes += size;
      } while (this.queue.length && jobs.length < BATCH_FILES && bytes + this.queue[0]!.size <= BATCH_BYTES);
      w.postMessage({ jobs, params: this.params });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
