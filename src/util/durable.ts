import { constants, promises as fsp } from 'node:fs';
import { helperShell } from './helper-shell.js';

/**
 * Flush the whole filesystem that holds `dir` (`sync -f`, i.e. syncfs): one call instead of an
 * fsync per file, which matters with thousands of small files. False if it could not be done.
 */
export function syncFilesystem(dir: string): Promise<boolean> {
  return helperShell.run('sync', dir);
}

/** Make files durable one by one (the fallback when syncFilesystem is not available). */
export async function fsyncFiles(files: string[]): Promise<void> {
  for (const f of files) {
    const fh = await fsp.open(f, constants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

/** Written bytes between background flushes (see EarlyFlush). */
const FLUSH_EVERY = 64 * 1024 * 1024;

/**
 * Flushes the filesystem of `dir` in the background each time another FLUSH_EVERY bytes were
 * written, so that the flush which must come before publishing finds little left to write: the
 * disk works while the transfer goes on instead of after it.
 */
export class EarlyFlush {
  private written = 0;
  private flushedAt = 0;
  private running: Promise<unknown> | null = null;

  constructor(private readonly dir: string) {}

  wrote(bytes: number): void {
    this.written += bytes;
    if (this.running || this.written - this.flushedAt < FLUSH_EVERY) return;
    this.flushedAt = this.written;
    this.running = syncFilesystem(this.dir).finally(() => {
      this.running = null;
    });
  }

  /** The background flush under way, if any, has finished. */
  async settle(): Promise<void> {
    await this.running;
  }
}
