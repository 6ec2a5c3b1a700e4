import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, events, runCli, scratch, summary, why } from '../helpers/cli.js';
import { noise } from '../helpers/data.js';
import { treeDiff } from '../helpers/tree.js';

const MiB = 1024 * 1024;


describe('resuming after the run is killed', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  const src = path.join(s.dir, 'src');
  const dst = path.join(s.dir, 'dst');
  const journal = path.join(s.dir, '.dst.dsync', 'journal');
  mkdirSync(src);
  writeFileSync(path.join(src, 'big.bin'), noise(256 * MiB, 7));
  writeFileSync(path.join(src, 'small.txt'), 'small');
  afterAll(s.cleanup);

  /** Start a sync and SIGKILL its whole process group once `lines` chunks are journaled. */
  async function killAfter(lines: number, extra: string[] = []): Promise<void> {
    // Run in a process group of its own and kill the whole group (client and agent) with -9.
    const child = spawn(process.execPath, [BIN, 'sync', src, dst, '--compress', 'none', '-q', ...extra], {
      env: { ...process.env, DSYNC_CACHE_DIR: cache },
      detached: true,
      stdio: 'ignore',
    });
    const closed = new Promise((r) => child.on('close', r));
    const count = () => (existsSync(journal) ? readFileSync(journal, 'latin1').split('\n').length - 1 : 0);
    for (let i = 0; i < 600 && count() < lines; i++) await new Promise((r) => setTimeout(r, 20));
    expect(count()).toBeGreaterThanOrEqual(lines);
    process.kill(-child.pid!, 'SIGKILL');
    await closed;
  }

  it('SIGKILL half way, then the same command sends only what had not arrived', async () => {
    await killAfter(1500); // ~100 MiB staged
    // Nothing partial was published.
    expect(existsSync(path.join(dst, 'big.bin'))).toBe(false);

    const r = await runCli(['sync', src, dst, '--compress', 'none', '--json'], { cacheDir: cache });
    expect(r.code, why(r)).toBe(0);
    expect(treeDiff(src, dst)).toEqual([]);
    const sum = summary(r);
    expect(sum.chunksResumed).toBeGreaterThan(1000);
    expect(sum.bytesSent).toBeLessThan(256 * MiB - 90 * MiB);
    // Nothing of the interrupted run is left behind after success.
    expect(existsSync(path.join(s.dir, '.dst.dsync'))).toBe(false);
  });

  it('staging an abandoned run left is dropped past --staging-max-age or beyond --staging-max-size', async () => {
    rmSync(dst, { recursive: true, force: true });
    await killAfter(300);
    const staged = () => readdirSync(path.join(s.dir, '.dst.dsync', 'staging'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(staged().length).toBeGreaterThan(0);
    // Ten days old: gone before the run looks for something to resume.
    const old = new Date(Date.now() - 10 * 86400_000);
    for (const e of staged()) utimesSync(path.join(e.parentPath, e.name), old, old);
    const r = await runCli(['sync', src, dst, '--compress', 'none', '--json'], { cacheDir: cache });
    expect(r.code, why(r)).toBe(0);
    expect(summary(r).chunksResumed).toBe(0);
    expect(events(r).some((e) => e.event === 'warning' && /removed \d+ staged files/.test(e.message))).toBe(true);
    expect(treeDiff(src, dst)).toEqual([]);

    // Fresh, but over the size limit: it is cut down to the limit.
    rmSync(dst, { recursive: true, force: true });
    await killAfter(300);
    const before = staged().length;
    const r2 = await runCli(['sync', src, dst, '--compress', 'none', '--json', '--staging-max-size', '0'], { cacheDir: cache });
    expect(r2.code, why(r2)).toBe(0);
    expect(before).toBeGreaterThan(0);
    expect(summary(r2).chunksResumed).toBe(0);
    expect(treeDiff(src, dst)).toEqual([]);
  });
});
