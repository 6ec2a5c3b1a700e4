import { execFile } from 'node:child_process';
import { constants, promises as fsp } from 'node:fs';

/**
 * Flush the whole filesystem that holds `dir` (`sync -f`, i.e. syncfs): one call instead of an
 * fsync per file, which matters with thousands of small files. False if it could not be done.
 */
export function syncFilesystem(dir: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('sync', ['-f', dir], (err) => resolve(!err));
  });
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
