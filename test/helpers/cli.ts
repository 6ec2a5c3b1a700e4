import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(REPO, 'bin', 'dsync.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A scratch directory removed by the returned cleanup. */
export function scratch(prefix = 'dsync-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A scratch directory for a whole test file, removed after its tests, that also holds the stat
 * caches of the runs this process makes in-process (so test files do not share them).
 */
export function scratchWithCaches(prefix?: string): { dir: string } {
  const s = scratch(prefix);
  process.env.DSYNC_CACHE_DIR = path.join(s.dir, 'cache');
  afterAll(s.cleanup);
  return s;
}

/** Run the real CLI as a user would; the stat caches go to `cacheDir` so tests do not share them. */
export function runCli(args: string[], opts: { cacheDir: string; env?: Record<string, string>; timeoutMs?: number; cwd?: string; nodeArgs?: string[] }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args], {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, DSYNC_CACHE_DIR: opts.cacheDir, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`dsync ${args.join(' ')} timed out\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The --json events of a run, parsed; throws if stdout holds anything but JSON lines. */
export function events(r: CliResult): Record<string, any>[] {
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

export function summary(r: CliResult): Record<string, any> {
  const s = events(r).find((e) => e.event === 'summary');
  if (!s) throw new Error(`no summary in output:\n${r.stdout}\n${r.stderr}`);
  return s;
}

/**
 * What a failed run said, for an assertion's message: its stderr, and with --json the error and
 * warning events, which go to stdout.
 */
export function why(r: CliResult): string {
  const said = r.stdout.split('\n').filter((l) => /"event":"(error|warning)"/.test(l));
  return [r.stderr, ...said].join('\n');
}
