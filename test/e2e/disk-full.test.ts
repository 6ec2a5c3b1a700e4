import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, scratch, why } from '../helpers/cli.js';
import { noise } from '../helpers/data.js';
import { snapshot, treeDiff } from '../helpers/tree.js';

const MiB = 1024 * 1024;
const canMount = (() => {
  try {
    execFileSync('mount', ['--version'], { stdio: 'ignore' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
})();


describe.skipIf(!canMount)('a destination whose disk fills up', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  const mnt = path.join(s.dir, 'small-disk');
  const dst = path.join(mnt, 'data');
  const filler = path.join(mnt, 'filler');
  const v1 = path.join(s.dir, 'v1');
  const v2 = path.join(s.dir, 'v2');

  beforeAll(() => {
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', mnt]);
    mkdirSync(v1);
    mkdirSync(v2);
    for (let i = 0; i < 4; i++) {
      writeFileSync(path.join(v1, `f${i}`), noise(3 * MiB, i + 1));
      writeFileSync(path.join(v2, `f${i}`), noise(6 * MiB, i + 100));
    }
    writeFileSync(filler, Buffer.alloc(12 * MiB, 1));
  });
  afterAll(() => {
    try {
      execFileSync('umount', [mnt]);
    } finally {
      s.cleanup();
    }
  });

  it('fails with a clear error, leaves the old destination intact, and completes once space is freed', async () => {
    expect((await runCli(['sync', v1, dst], { cacheDir: cache })).code).toBe(0);
    const before = snapshot(dst);
    // 12 MiB old data + 12 MiB filler + 24 MiB new data do not fit in 40 MiB.
    const r = await runCli(['sync', v2, dst, '--compress', 'none'], { cacheDir: cache });
    expect(r.code).toBe(11);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no space left on device/);
    expect(snapshot(dst)).toEqual(before);
    rmSync(filler);
    const again = await runCli(['sync', v2, dst, '--compress', 'none'], { cacheDir: cache });
    expect(again.code, why(again)).toBe(0);
    expect(treeDiff(v2, dst)).toEqual([]);
  });
});
