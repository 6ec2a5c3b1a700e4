import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ALIGN, AlignedPool, COPY_BLOCK, copyFileDirectSync, openDirect, pwriteDirect } from '../../src/util/direct-io.js';
import { scratch } from '../helpers/cli.js';
import { cached, directWritesIn } from '../helpers/page-cache.js';

const tmp = scratch('dsync-direct-');
afterAll(() => tmp.cleanup());
let n = 0;
const file = (data?: Buffer) => {
  const p = path.join(tmp.dir, `f${n++}`);
  if (data) writeFileSync(p, data);
  return p;
};

const directHere = await directWritesIn(tmp.dir);

describe('AlignedPool', () => {
  it('hands out page-aligned buffers, and a taker waits for one given back', async () => {
    const pool = new AlignedPool(2, 3 * ALIGN + 10);
    const a = (await pool.take())!;
    const b = (await pool.take())!;
    expect(a.length).toBe(3 * ALIGN + 10);
    expect(AlignedPool.alignedFor(a, 0) && AlignedPool.alignedFor(b, 8 * ALIGN)).toBe(true);
    expect(AlignedPool.alignedFor(a.subarray(100), 100 + ALIGN)).toBe(true);
    expect(AlignedPool.alignedFor(a.subarray(100), 0)).toBe(false);
    expect(AlignedPool.alignedFor(Buffer.alloc(ALIGN), 0)).toBe(false); // not pooled: no knowing
    let third: Buffer | null = null;
    const waiting = pool.take().then((x) => (third = x));
    await new Promise((resolve) => setImmediate(resolve));
    expect(third).toBeNull();
    pool.give(a);
    await waiting;
    expect(third).toBe(a);
  });
});

describe('copyFileDirectSync', () => {
  const sizes = [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, COPY_BLOCK - 1, COPY_BLOCK, COPY_BLOCK + 3 * ALIGN + 7];
  it.each(sizes)('copies %i bytes exactly, as a new file of mode 0600', async (size) => {
    const pool = new AlignedPool(1, COPY_BLOCK);
    const buf = (await pool.take())!;
    buf.fill(0xee); // whatever a block leaves behind must not end up past the copy's end
    const data = randomBytes(size);
    const from = file(data);
    const to = file();
    copyFileDirectSync(from, to, buf);
    expect(readFileSync(to).equals(data)).toBe(true);
    expect(statSync(to).mode & 0o777).toBe(0o600);
  });

  it.runIf(directHere)('leaves the copy out of the page cache', async () => {
    const from = file(randomBytes(4 * COPY_BLOCK));
    const to = file();
    copyFileDirectSync(from, to, await new AlignedPool(1, COPY_BLOCK).take());
    const res = cached(to);
    if (res === null) return; // no fincore here
    expect(cached(from)).toBeGreaterThan(COPY_BLOCK); // fincore sees what is cached
    expect(res).toBeLessThan(ALIGN * 2);
  });

  it('copies through the kernel without an aligned buffer, and never over an existing file', () => {
    const data = randomBytes(10_000);
    const from = file(data);
    const to = file();
    copyFileDirectSync(from, to, null);
    expect(readFileSync(to).equals(data)).toBe(true);
    const other = file(Buffer.from('kept'));
    expect(() => copyFileDirectSync(from, other, null)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => copyFileDirectSync(from, other, Buffer.alloc(COPY_BLOCK))).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(readFileSync(other, 'utf8')).toBe('kept');
  });
});

describe('pwriteDirect', () => {
  it('writes unaligned ranges whole, its whole pages direct, beside buffered writes of the pages it shares', async () => {
    const pool = new AlignedPool(1, 8 * ALIGN);
    const buf = (await pool.take())!;
    const size = 40 * ALIGN + 123;
    const expected = randomBytes(size);
    const p = file(Buffer.alloc(size));
    const fd = openSync(p, 'r+');
    const direct = await openDirect(p);
    try {
      // Ranges of every shape: inside one page, ending on a boundary, spanning several pages.
      const ranges = [[0, 5 * ALIGN], [5 * ALIGN, 5 * ALIGN + 100], [5 * ALIGN + 100, 9 * ALIGN + 17], [9 * ALIGN + 17, 16 * ALIGN - 1], [16 * ALIGN - 1, 23 * ALIGN], [23 * ALIGN, size]];
      for (const [from, to] of ranges.reverse()) {
        for (let at = from!; at < to!; ) {
          const len = Math.min(to! - at, 7 * ALIGN); // a pooled buffer holds 8 pages; it starts `at % ALIGN` in
          const data = buf.subarray(at % ALIGN, (at % ALIGN) + len);
          expected.copy(data, 0, at, at + len);
          expect(AlignedPool.alignedFor(data, at)).toBe(true);
          if (direct) expect(await pwriteDirect(fd, direct.fd, data, at)).toBe(true);
          else expect(await pwriteDirect(fd, fd, data, at)).toBe(true); // where direct writes are refused, both are buffered
          at += len;
        }
      }
    } finally {
      closeSync(fd);
      await direct?.close();
    }
    expect(readFileSync(p).equals(expected)).toBe(true);
  });
});

describe('copyFileDirect (the built copy worker)', async () => {
  // From the TypeScript sources there is no worker to start: the built module has one.
  const { copyFileDirect } = (await import(path.resolve('dist/src/util/direct-io.js'))) as typeof import('../../src/util/direct-io.js');

  it('copies files one after another on its thread, past the page cache, and fails with the error code', async () => {
    const data = [randomBytes(3 * COPY_BLOCK + 5), randomBytes(100), randomBytes(COPY_BLOCK)];
    const pairs = data.map((d) => [file(d), file()] as const);
    await Promise.all(pairs.map(([from, to]) => copyFileDirect(from, to)));
    const res = directHere ? cached(pairs[0]![1]) : null; // before reading it back puts it there
    if (res !== null) expect(res).toBeLessThan(ALIGN * 2);
    pairs.forEach(([, to], i) => expect(readFileSync(to).equals(data[i]!)).toBe(true));
    await expect(copyFileDirect(pairs[1]![0], pairs[2]![1])).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(copyFileDirect(path.join(tmp.dir, 'missing'), file())).rejects.toMatchObject({ code: 'ENOENT' });
    expect(readFileSync(pairs[2]![1]).equals(data[2]!)).toBe(true);
  });

  it('makes the copies it was given one after another while the main thread is busy', async () => {
    const data = [randomBytes(COPY_BLOCK), randomBytes(3000), randomBytes(COPY_BLOCK + 7)];
    const pairs = data.map((d) => [file(d), file()] as const);
    await copyFileDirect(pairs[0]![0], file()); // the worker is up
    const copies = pairs.map(([from, to]) => copyFileDirect(from, to));
    // Blocked, this thread reads no answer: each copy must begin without one.
    const until = Date.now() + 5_000;
    while (Date.now() < until && !pairs.every(([, to], i) => existsSync(to) && statSync(to).size === data[i]!.length)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    pairs.forEach(([, to], i) => expect(readFileSync(to).equals(data[i]!)).toBe(true));
    expect(await Promise.all(copies)).toEqual([true, true, true]);
  });

  it('calls off a copy that has not begun: it gives false and makes nothing; the others are made', async () => {
    const data = [randomBytes(4 * COPY_BLOCK), randomBytes(1000), randomBytes(2000)];
    const pairs = data.map((d) => [file(d), file()] as const);
    const offs = pairs.map(() => new AbortController());
    const copies = pairs.map(([from, to], i) => copyFileDirect(from, to, offs[i]!.signal));
    offs[1]!.abort(); // the first one is under way: the second waits its turn behind it
    expect(await Promise.all(copies)).toEqual([true, false, true]);
    expect(existsSync(pairs[1]![1])).toBe(false);
    for (const i of [0, 2]) expect(readFileSync(pairs[i]![1]).equals(data[i]!)).toBe(true);
    const off = new AbortController();
    off.abort();
    expect(await copyFileDirect(pairs[0]![0], file(), off.signal)).toBe(false);
  });
});
