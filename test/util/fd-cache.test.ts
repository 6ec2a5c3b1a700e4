import { fstatSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FdCache } from '../../src/util/fd-cache.js';
import { scratch } from '../helpers/cli.js';

const tmp = scratch('dsync-fdcache-');
afterAll(() => tmp.cleanup());

function files(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const f = path.join(tmp.dir, `f${i}`);
    writeFileSync(f, String(i));
    return f;
  });
}

const isOpen = (fd: number) => {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
};

describe('FdCache', () => {
  it('keeps at most its bound open, closing the least recently used', () => {
    const cache = new FdCache('r', 2);
    const [a, b, c] = files(3);
    const fa = cache.get(a!);
    const fb = cache.get(b!);
    expect(cache.get(a!)).toBe(fa); // a is now the most recent
    cache.get(c!);
    expect(isOpen(fb)).toBe(false);
    expect(isOpen(fa)).toBe(true);
    cache.closeAll();
    expect(isOpen(fa)).toBe(false);
  });

  it('closeAllLater returns at once and closes every descriptor in the background', async () => {
    const cache = new FdCache('r', 8);
    const fds = files(5).map((f) => cache.get(f));
    cache.closeAllLater();
    for (let i = 0; i < 100 && fds.some(isOpen); i++) await new Promise((r) => setTimeout(r, 5));
    expect(fds.filter(isOpen)).toEqual([]);
    expect(cache.get(path.join(tmp.dir, 'f0'))).toBeGreaterThanOrEqual(0); // usable again, opened anew
    cache.closeAll();
  });
});
