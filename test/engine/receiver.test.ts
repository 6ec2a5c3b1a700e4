import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/protocol/frame.js';
import { decodeNeedLists, MSG } from '../../src/protocol/messages.js';
import { scratchWithCaches } from '../helpers/cli.js';
import { noise } from '../helpers/data.js';
import { syncThrough } from '../helpers/in-memory.js';

/** Passes the receiver's frames on unchanged, keeping the entry indices of each NEED_LISTS. */
function needListsTap(asked: number[][]): Transform {
  const frames = new FrameDecoder();
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      for (const f of frames.push(Buffer.from(chunk))) if (f.type === MSG.NEED_LISTS) asked.push(decodeNeedLists(f.payload));
      done(null, chunk);
    },
  });
}

describe('the receiver', () => {
  const s = scratchWithCaches();

  it("asks for the lists of files that differ from its stat cache before its scan is done, on the sender's first contact with them", async () => {
    const dst = path.join(s.dir, 'dst');
    const first = path.join(s.dir, 'first');
    mkdirSync(first);
    writeFileSync(path.join(first, 'a-changed.bin'), noise(300_000, 1));
    for (let i = 0; i < 2000; i++) writeFileSync(path.join(first, `z-${i}.txt`), `file ${i}\n`);
    await syncThrough(first, dst); // the destination, and its stat cache
    // Another tree: the sender has read none of its files, so it announces them by size and mtime.
    const next = path.join(s.dir, 'next');
    mkdirSync(next);
    writeFileSync(path.join(next, 'a-changed.bin'), noise(310_000, 2));
    writeFileSync(path.join(next, 'b-new.bin'), noise(50_000, 3));
    const asked: number[][] = [];
    await syncThrough(next, dst, { back: needListsTap(asked) });
    // Entry 1 (a-changed.bin) differs from the cache's size: asked for as soon as the cache is
    // loaded. Entry 2 (b-new.bin), unknown to the cache, once the scan of 2000 files found no such file.
    expect(asked).toEqual([[1], [2]]);
    for (const name of ['a-changed.bin', 'b-new.bin']) expect(readFileSync(path.join(dst, name)).equals(readFileSync(path.join(next, name)))).toBe(true);
  });
  /** `dir` holds a 2 MB file, first in the manifest, and 2000 small ones that keep the scan busy. */
  function tree(dir: string, big: Buffer): void {
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'a-big.bin'), big);
    for (let i = 0; i < 2000; i++) writeFileSync(path.join(dir, `z-${i}.txt`), `file ${i}\n`);
  }

  /** Old and new versions of a 2 MB file that differ in 16 bytes; the sender has read the new one before. */
  async function update(name: string): Promise<{ dst: string; next: string }> {
    const old = noise(2_000_000, 4);
    const edited = Buffer.from(old);
    edited.write('sixteen bytes!!!', 1_000_000);
    const [first, next, dst] = ['first', 'next', 'dst'].map((d) => path.join(s.dir, name, d));
    mkdirSync(path.join(s.dir, name));
    tree(first, old);
    tree(next, edited);
    writeFileSync(path.join(next, 'b-new.bin'), noise(50_000, 5));
    await syncThrough(next, path.join(s.dir, name, 'seen')); // the sender's stat cache holds next's digests
    await syncThrough(first, dst!);
    return { dst: dst!, next: next! };
  }

  it('asks for a changed large file the sender has read before (and starts copying its old version) before its scan is done', async () => {
    const { dst, next } = await update('hashed');
    const asked: number[][] = [];
    await syncThrough(next, dst, { back: needListsTap(asked) });
    // Entry 2 (b-new.bin) only once the scan found no such file.
    expect(asked).toEqual([[1], [2]]);
    expect(readFileSync(path.join(dst, 'a-big.bin')).equals(readFileSync(path.join(next, 'a-big.bin')))).toBe(true);
  });

  it('leaves alone a file its stat cache calls changed when its scan finds it already up to date', async () => {
    const { dst, next } = await update('stale-cache');
    // Someone put the new version in place since the last run: the cache still knows the old one.
    copyFileSync(path.join(next, 'a-big.bin'), path.join(dst, 'a-big.bin'));
    const before = statSync(path.join(dst, 'a-big.bin')).ino;
    const asked: number[][] = [];
    await syncThrough(next, dst, { back: needListsTap(asked) });
    expect(asked).toEqual([[1], [2]]); // entry 1 asked early, on the cache's word
    expect(statSync(path.join(dst, 'a-big.bin')).ino).toBe(before); // not rewritten, only its mtime set
    expect(readFileSync(path.join(dst, 'a-big.bin')).equals(readFileSync(path.join(next, 'a-big.bin')))).toBe(true);
  });

  it('takes a tree that was a source before (its stat cache knows files unread) as a destination', async () => {
    const [src, elsewhere, next, seen] = ['tree', 'elsewhere', 'next', 'seen'].map((d) => path.join(s.dir, 'was-source', d));
    mkdirSync(path.join(s.dir, 'was-source'));
    tree(src!, noise(2_000_000, 6));
    // Synced from onto a copy with the same times: nothing needed reading, so its cache holds
    // every file as announced unread (the sender's first contact).
    execFileSync('cp', ['-a', src!, elsewhere!]); // to the nanosecond
    await syncThrough(src!, elsewhere!);
    tree(next!, noise(2_000_000, 7));
    await syncThrough(next!, seen!); // the sender knows next's content
    await syncThrough(next!, src!);
    expect(readFileSync(path.join(src!, 'a-big.bin')).equals(readFileSync(path.join(next!, 'a-big.bin')))).toBe(true);
  });
});
