import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
});
