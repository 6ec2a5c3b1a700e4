import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { scratch } from './cli.js';

/**
 * What `wat2wasm` makes of `wat` (a path from the project root), base64, as the generated
 * `*-wasm.ts` modules hold it; null where wat2wasm is not installed.
 */
export function compiledWat(wat: string): string | null {
  const { dir, cleanup } = scratch();
  try {
    const out = path.join(dir, 'module.wasm');
    try {
      execFileSync('wat2wasm', [path.join(import.meta.dirname, '../..', wat), '-o', out], { stdio: 'ignore' });
    } catch {
      return null;
    }
    return readFileSync(out).toString('base64');
  } finally {
    cleanup();
  }
}
