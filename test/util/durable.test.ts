import * as childProcess from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { FLUSHER_IDLE_MS, syncFilesystem } from '../../src/util/durable.js';
import { scratch } from '../helpers/cli.js';

vi.mock('node:child_process', async (original) => {
  const real = await original<typeof import('node:child_process')>();
  return { ...real, spawn: vi.fn(real.spawn) };
});

const tmp = scratch('dsync-durable-');
afterAll(() => tmp.cleanup());

describe('syncFilesystem', () => {
  it('flushes through one long-lived shell per directory', async () => {
    const spawn = vi.mocked(childProcess.spawn);
    const before = spawn.mock.calls.length;
    expect(await syncFilesystem(tmp.dir)).toBe(true);
    expect(await Promise.all([syncFilesystem(tmp.dir), syncFilesystem(tmp.dir)])).toEqual([true, true]);
    expect(spawn.mock.calls.length - before).toBe(1);
  });

  it('ends an idle shell; the next flush starts another, even while the old one is ending', async () => {
    const spawn = vi.mocked(childProcess.spawn);
    const dir = path.join(tmp.dir, 'idle');
    mkdirSync(dir);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const before = spawn.mock.calls.length;
      expect(await syncFilesystem(dir)).toBe(true);
      const shell = spawn.mock.results.at(-1)!.value as childProcess.ChildProcess;
      const closed = new Promise((resolve) => shell.once('close', resolve));
      vi.advanceTimersByTime(FLUSHER_IDLE_MS - 1);
      expect(shell.stdin!.writableEnded).toBe(false);
      vi.advanceTimersByTime(1);
      // at once, while the old shell is still ending: a new one answers
      expect(await syncFilesystem(dir)).toBe(true);
      await closed;
      expect(spawn.mock.calls.length - before).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('reports a flush that could not be done', async () => {
    expect(await syncFilesystem(path.join(tmp.dir, 'missing'))).toBe(false);
  });

  it('keeps the process alive while a flush is awaited, and not once it is idle', () => {
    // Built code in a process of its own: it prints the result, then must exit by itself.
    const durable = path.resolve('dist/src/util/durable.js');
    const script = `const { syncFilesystem } = await import(${JSON.stringify(durable)}); console.log(await syncFilesystem(${JSON.stringify(tmp.dir)}));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' });
    expect(out.trim()).toBe('true');
  });
});
