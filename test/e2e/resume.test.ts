import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runCli, scratch, summary } from '../helpers/cli.js';
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

  it('SIGKILL half way, then the same command sends only what had not arrived', async () => {
    // Run in a process group of its own and kill the whole group (client and agent) with -9.
    const child = spawn(process.execPath, [BIN, 'sync', src, dst, '--compress', 'none', '-q'], {
      env: { ...process.env, DSYNC_CACHE_DIR: cache },
      detached: true,
      stdio: 'ignore',
    });
    const closed = new Promise((r) => child.on('close', r));
    const lines = () => (existsSync(journal) ? readFileSync(journal, 'latin1').split('\n').length - 1 : 0);
    for (let i = 0; i < 600 && lines() < 1500; i++) await new Promise((r) => setTimeout(r, 20));
    expect(lines()).toBeGreaterThanOrEqual(1500); // ~100 MiB staged before the kill
    process.kill(-child.pid!, 'SIGKILL');
    await closed;
    // Nothing partial was published.
    expect(existsSync(path.join(dst, 'big.bin'))).toBe(false);

    const r = await runCli(['sync', src, dst, '--compress', 'none', '--json'], { cacheDir: cache });
    expect(r.code, r.stderr).toBe(0);
    expect(treeDiff(src, dst)).toEqual([]);
    const sum = summary(r);
    expect(sum.chunksResumed).toBeGreaterThan(1000);
    expect(sum.bytesSent).toBeLessThan(256 * MiB - 90 * MiB);
    // Nothing of the interrupted run is left behind after success.
    expect(existsSync(path.join(s.dir, '.dst.dsync'))).toBe(false);
  });
});
