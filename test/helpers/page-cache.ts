import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import path from 'node:path';
import { openDirect } from '../../src/util/direct-io.js';

/** Bytes of `p` in the page cache, from util-linux fincore; null where it is missing. */
export function cached(p: string): number | null {
  try {
    return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', p], { encoding: 'utf8' }).trim());
  } catch {
    return null;
  }
}

/** Whether the filesystem of `dir` takes direct writes (not every test machine's tmp does). */
export async function directWritesIn(dir: string): Promise<boolean> {
  const probe = await openDirect(path.join(dir, '.direct-probe'), constants.O_CREAT, 0o600);
  await probe?.close();
  return probe !== null;
}
