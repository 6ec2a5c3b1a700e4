import { spawn } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runCli, scratch, why } from '../helpers/cli.js';
import { noise } from '../helpers/data.js';
import { treeDiff } from '../helpers/tree.js';

const MiB = 1024 * 1024;

describe('--atomic: whole dataset versions behind a symlink', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  const src = path.join(s.dir, 'src');
  const dst = path.join(s.dir, 'data');
  const versions = `${dst}.versions`;
  const cli = (...args: string[]) => runCli(['sync', src, dst, '--atomic', ...args], { cacheDir: cache });
  const current = () => path.join(path.dirname(dst), readlinkSync(dst));
  const list = () => readdirSync(versions).sort();
  afterAll(s.cleanup);

  mkdirSync(path.join(src, 'sub'), { recursive: true });
  writeFileSync(path.join(src, 'big.bin'), noise(8 * MiB, 1));
  writeFileSync(path.join(src, 'same.bin'), noise(2 * MiB, 2));
  writeFileSync(path.join(src, 'sub', 'touched.txt'), 'mode and time only change');

  it('the first run makes DST a symlink to its first version', async () => {
    const r = await cli();
    expect(r.code, why(r)).toBe(0);
    expect(lstatSync(dst).isSymbolicLink()).toBe(true);
    expect(readlinkSync(dst)).toMatch(/^data\.versions\/\d{8}T\d{6}\.\d{3}Z$/);
    expect(treeDiff(src, current())).toEqual([]);
    expect(list()).toHaveLength(1);
  });

  it('the next version shares unchanged files by hard link; the old one stays whole, even its modes', async () => {
    const before = current();
    const old = { big: statSync(path.join(before, 'big.bin')).ino, mode: statSync(path.join(before, 'sub', 'touched.txt')).mode };
    writeFileSync(path.join(src, 'big.bin'), Buffer.concat([noise(4 * MiB, 1), Buffer.from('edit'), noise(4 * MiB, 3)]));
    writeFileSync(path.join(src, 'new.txt'), 'new');
    chmodSync(path.join(src, 'sub', 'touched.txt'), 0o600);
    const r = await cli();
    expect(r.code, why(r)).toBe(0);
    const after = current();
    expect(after).not.toBe(before);
    expect(treeDiff(src, current())).toEqual([]);
    expect(statSync(path.join(after, 'same.bin')).ino).toBe(statSync(path.join(before, 'same.bin')).ino);
    expect(statSync(path.join(after, 'big.bin')).ino).not.toBe(old.big);
    expect(statSync(path.join(before, 'big.bin')).ino).toBe(old.big);
    expect(statSync(path.join(before, 'sub', 'touched.txt')).mode).toBe(old.mode); // not chmod-ed through a shared link
    expect(statSync(path.join(after, 'sub', 'touched.txt')).mode & 0o777).toBe(0o600);
    expect(list()).toHaveLength(2);
  });

  it('a reader of DST sees the old version or the new one, whole, at every moment of the switch', async () => {
    const old = current();
    const oldSnapshot = path.join(s.dir, 'old-src');
    rmSync(oldSnapshot, { recursive: true, force: true });
    await runCli(['sync', src, oldSnapshot], { cacheDir: cache }); // what the old version holds
    writeFileSync(path.join(src, 'big.bin'), noise(12 * MiB, 9));
    const child = spawn(process.execPath, [BIN, 'sync', src, dst, '--atomic', '-q'], { env: { ...process.env, DSYNC_CACHE_DIR: cache }, stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    const seen = new Set<string>();
    let running = true;
    void exited.then(() => (running = false));
    while (running) {
      seen.add(readlinkSync(dst)); // throws if DST were ever missing
      await new Promise((r) => setImmediate(r));
    }
    expect(await exited).toBe(0);
    const now = current();
    expect([...seen].map((t) => path.join(path.dirname(dst), t)).every((t) => t === old || t === now)).toBe(true);
    expect(treeDiff(oldSnapshot, old)).toEqual([]);
    expect(treeDiff(src, now)).toEqual([]);
  });

  it('--keep N prunes older versions, never the one DST names', async () => {
    for (let i = 0; i < 3; i++) {
      writeFileSync(path.join(src, 'new.txt'), `round ${i}`);
      const r = await cli('--keep', '1');
      expect(r.code, why(r)).toBe(0);
    }
    expect(list()).toHaveLength(2);
    expect(list()[1]).toBe(path.basename(current()));
    expect(treeDiff(src, current())).toEqual([]);
  });

  it('refuses a DST that is a plain directory (exit 1), changing nothing', async () => {
    const plain = path.join(s.dir, 'plain');
    mkdirSync(plain);
    writeFileSync(path.join(plain, 'keep.txt'), 'mine');
    const r = await runCli(['sync', src, plain, '--atomic'], { cacheDir: cache });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not a symlink made by --atomic/);
    expect(readdirSync(plain)).toEqual(['keep.txt']);
  });
});
