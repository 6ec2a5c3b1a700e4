import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRate } from '../../src/cli/main.js';
import { runCli, scratch, summary, why } from '../helpers/cli.js';
import { noise } from '../helpers/data.js';

describe('--bwlimit', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  afterAll(s.cleanup);

  it('reads rates as rsync does: bytes per second, a bare number in KiB', () => {
    expect(parseRate('50M')).toBe(50 * 1024 * 1024);
    expect(parseRate('1G')).toBe(1024 ** 3);
    expect(parseRate('1.5K')).toBe(1536);
    expect(parseRate('100')).toBe(100 * 1024);
    expect(parseRate('0')).toBe(0);
    expect(() => parseRate('fast')).toThrow(/--bwlimit/);
  });

  it('holds the total over all streams', async () => {
    const src = path.join(s.dir, 'src');
    mkdirSync(src);
    const data = noise(6 * 1024 * 1024, 7);
    writeFileSync(path.join(src, 'a.bin'), data);
    const dst = path.join(s.dir, 'dst');
    const t0 = performance.now();
    const r = await runCli(['sync', src, dst, '--streams', '4', '--bwlimit', '2M', '--json'], { cacheDir: cache, timeoutMs: 30_000 });
    const secs = (performance.now() - t0) / 1000;
    expect(r.code, why(r)).toBe(0);
    expect(readFileSync(path.join(dst, 'a.bin')).equals(data)).toBe(true);
    expect(summary(r).streams).toHaveLength(4);
    // 6 MiB at 2 MiB/s after a 256 KiB burst: at least 2.8 s whatever the number of streams.
    expect(secs).toBeGreaterThan(2.8);
    expect(secs).toBeLessThan(15);
  });

  it('bad values for the new stream options are usage errors (exit 1)', async () => {
    for (const args of [['--streams', '0'], ['--streams', '17'], ['--transport', 'udp'], ['--bwlimit', 'fast']]) {
      const r = await runCli(['sync', s.dir, path.join(s.dir, 'x'), ...args], { cacheDir: cache });
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(args[0]!));
    }
  });
});
