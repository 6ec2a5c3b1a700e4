import * as childProcess from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { syncFilesystem } from '../../src/util/durable.js';
import { HELPER_IDLE_MS, helperShell } from '../../src/util/helper-shell.js';
import { scratch } from '../helpers/cli.js';

vi.mock('node:child_process', async (original) => {
  const real = await original<typeof import('node:child_process')>();
  return { ...real, spawn: vi.fn(real.spawn) };
});

const tmp = scratch('dsync-helper-');
afterAll(() => tmp.cleanup());
const spawns = () => vi.mocked(childProcess.spawn).mock.calls.length;

describe('helperShell', () => {
  it('is started by warm() and then answers every request, flushes and chattr alike, without another spawn', async () => {
    helperShell.warm();
    const before = spawns();
    expect(await syncFilesystem(tmp.dir)).toBe(true);
    const other = path.join(tmp.dir, 'other');
    mkdirSync(other);
    expect(await Promise.all([syncFilesystem(tmp.dir), helperShell.run('chattr', other), syncFilesystem(other)])).toEqual([true, expect.any(Boolean), true]);
    expect(spawns()).toBe(before);
  });

  it('reports a request that failed, and one it cannot put on a line', async () => {
    expect(await syncFilesystem(path.join(tmp.dir, 'missing'))).toBe(false);
    expect(await helperShell.run('chattr', path.join(tmp.dir, 'missing'))).toBe(false);
    const before = spawns();
    expect(await syncFilesystem(`${tmp.dir}/a\nb`)).toBe(false);
    expect(spawns()).toBe(before);
  });

  it('gives up on a request after its timeout, and the answers after it still match their requests', async () => {
    // The timeout fires before any answer can be read: a warm shell may answer a flush of a clean
    // filesystem within the millisecond a real timer of 0 takes (seen once in CI).
    // Only setTimeout: the shell's idle timer, a real one from the test before, is still cleared.
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    let late: Promise<boolean>;
    try {
      late = helperShell.run('sync', tmp.dir, 10);
      vi.advanceTimersByTime(10);
    } finally {
      vi.useRealTimers();
    }
    const next = syncFilesystem(path.join(tmp.dir, 'missing'));
    const last = syncFilesystem(tmp.dir);
    expect(await late).toBe(false); // timed out before the shell answered, although the flush succeeds
    expect(await next).toBe(false);
    expect(await last).toBe(true);
  });

  it('ends when idle; the next request starts another, even while the old one is ending', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const before = spawns();
      helperShell.warm();
      expect(await syncFilesystem(tmp.dir)).toBe(true);
      const spawned = spawns() - before; // 0 or 1: the shell may still be running from the tests above
      const shell = vi.mocked(childProcess.spawn).mock.results.at(-1)!.value as childProcess.ChildProcess;
      const closed = new Promise((resolve) => shell.once('close', resolve));
      vi.advanceTimersByTime(HELPER_IDLE_MS - 1);
      expect(shell.stdin!.writableEnded).toBe(false);
      vi.advanceTimersByTime(1);
      expect(shell.stdin!.writableEnded).toBe(true);
      // at once, while the old shell is still ending: a new one answers
      expect(await syncFilesystem(tmp.dir)).toBe(true);
      await closed;
      expect(spawns() - before).toBe(spawned + 1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps the process alive while an answer is awaited, and not once it is idle or only warmed', () => {
    // Built code in a process of its own: it prints the result, then must exit by itself.
    const durable = path.resolve('dist/src/util/durable.js');
    const shell = path.resolve('dist/src/util/helper-shell.js');
    const script = `const { syncFilesystem } = await import(${JSON.stringify(durable)}); console.log(await syncFilesystem(${JSON.stringify(tmp.dir)}));`;
    expect(execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' }).trim()).toBe('true');
    const warmOnly = `const { helperShell } = await import(${JSON.stringify(shell)}); helperShell.warm(); console.log('warm');`;
    expect(execFileSync(process.execPath, ['--input-type=module', '-e', warmOnly], { timeout: 10_000, encoding: 'utf8' }).trim()).toBe('warm');
  });
});
