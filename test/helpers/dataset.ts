import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SHARED_BENCH } from './cli.js';

export const GEN = path.join(SHARED_BENCH, 'gen-dataset.py');
export const haveGenerator = existsSync(GEN);

/** The benchmark's training-data-shaped tree (v1) and its next-day version (v2), at a small scale. */
export function makeDataset(dir: string, scale = 0.05): { v1: string; v2: string } {
  const v1 = path.join(dir, 'v1');
  const v2 = path.join(dir, 'v2');
  execFileSync('python3', [GEN, v1, '--scale', String(scale)], { stdio: 'ignore' });
  execFileSync('cp', ['-a', v1, v2]);
  execFileSync('python3', [GEN, v2, '--mutate'], { stdio: 'ignore' });
  return { v1, v2 };
}
