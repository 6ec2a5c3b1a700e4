import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runCli, scratch, why } from '../helpers/cli.js';
import { treeDiff } from '../helpers/tree.js';

describe('one run at a time per destination', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  const src = path.join(s.dir, 'src');
  const dst = path.join(s.dir, 'dst');
  const lockDir = path.join(s.dir, '.dst.dsync');
  const lockFile = path.join(lockDir, 'lock');
  const holdLock = (pid: number) => {
    mkdirSync(lockDir, { recursive: true });
    writeFileSync(lockFile, JSON.stringify({ pid, host: os.hostname(), since: '2026-01-01T00:00:00Z' }));
  };
  mkdirSync(src);
  for (let i = 0; i < 20; i++) writeFileSync(path.join(src, `f${i}`), Buffer.alloc(200_000, i));
  afterAll(s.cleanup);

  it('refuses while a live run holds the lock: exit 51, saying who holds it', async () => {
    holdLock(process.pid);
    const r = await runCli(['sync', src, dst], { cacheDir: cache });
    expect(r.code).toBe(51);
    expect(r.stderr).toMatch(new RegExp(`locked by pid ${process.pid} on host ${os.hostname()} since 2026-01-01`));
  });

  it('a lock half made by a run killed before it was linked in blocks nothing and is cleared', async () => {
    rmSync(lockFile, { force: true });
    mkdirSync(lockDir, { recursive: true });
    writeFileSync(`${lockFile}.99999999.tmp`, '{"pid":99999999,');
    const r = await runCli(['sync', src, dst], { cacheDir: cache });
    expect(r.code, why(r)).toBe(0);
    expect(existsSync(lockDir)).toBe(false);
  });

  it('waits for the lock with --wait-lock', async () => {
    holdLock(process.pid);
    const t0 = Date.now();
    const release = setTimeout(() => spawnSync('rm', ['-f', lockFile]), 1000);
    const r = await runCli(['sync', src, dst, '--wait-lock', '20'], { cacheDir: cache });
    clearTimeout(release);
    expect(r.code, why(r)).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(treeDiff(src, dst)).toEqual([]);
  });

  it('takes over a lock whose owner died', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    holdLock(Number(dead.stdout.trim()));
    const r = await runCli(['sync', src, dst], { cacheDir: cache });
    expect(r.code, why(r)).toBe(0);
  });

  it('two concurrent runs serialise: the destination ends as one source, never a mix', async () => {
    const other = path.join(s.dir, 'other');
    mkdirSync(other);
    for (let i = 0; i < 20; i++) writeFileSync(path.join(other, `f${i}`), Buffer.alloc(200_000, 100 + i));
    const run = (from: string) =>
      new Promise<number | null>((resolve) => {
        const c = spawn(process.execPath, [BIN, 'sync', from, dst, '--wait-lock', '60', '-q'], { env: { ...process.env, DSYNC_CACHE_DIR: cache }, stdio: 'ignore' });
        c.on('close', resolve);
      });
    const [a, b] = await Promise.all([run(src), run(other)]);
    expect([a, b]).toEqual([0, 0]);
    const asSrc = treeDiff(src, dst, false);
    const asOther = treeDiff(other, dst, false);
    expect(asSrc.length === 0 || asOther.length === 0).toBe(true);
  });
});
