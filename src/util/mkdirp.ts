import { mkdirSync, promises as fsp } from 'node:fs';
import path from 'node:path';

/**
 * mkdir -p with a bounded number of steps. Node's own recursive mkdir spins forever where mkdir
 * keeps answering ENOENT for a parent that exists (e.g. under /proc); this one fails instead.
 */
export async function mkdirp(dir: string, mode?: number): Promise<void> {
  const missing: string[] = [];
  let p = path.resolve(dir);
  for (;;) {
    try {
      const st = await fsp.stat(p);
      if (!st.isDirectory()) throw Object.assign(new Error(`${p} is not a directory`), { code: 'ENOTDIR' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      missing.push(p);
      const parent = path.dirname(p);
      if (parent === p) break;
      p = parent;
    }
  }
  for (const d of missing.reverse()) {
    try {
      await fsp.mkdir(d, mode === undefined ? undefined : { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** mkdir (private: 0700) of a directory whose parent exists; one that is already there is fine. */
export function mkdirIfMissing(dir: string): void {
  try {
    mkdirSync(dir, 0o700);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}
