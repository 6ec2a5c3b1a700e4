import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, scratch, summary, why } from '../helpers/cli.js';
import { noise } from '../helpers/data.js';
import { treeDiff } from '../helpers/tree.js';

const MiB = 1024 * 1024;

describe('compression and deltas on the wire (real CLI)', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  const src = path.join(s.dir, 'src');
  const text = Array.from({ length: 60_000 }, (_, i) => `{"id":${i},"caption":"a photo of item ${i % 977}","split":"${i % 10 ? 'train' : 'val'}"}\n`).join('');
  mkdirSync(src);
  writeFileSync(path.join(src, 'captions.jsonl'), text);
  writeFileSync(path.join(src, 'pixels.bin'), noise(4 * MiB, 3));
  afterAll(s.cleanup);
  const sync = (dst: string, ...args: string[]) => runCli(['sync', src, dst, '--json', ...args], { cacheDir: cache });

  it('a zstd level compresses the text and sends the noise raw; none and local auto send raw bytes', async () => {
    const textBytes = Buffer.byteLength(text);
    for (const [args, expectSmall] of [[['--compress', '3'], true], [['--compress', 'none'], false], [[], false]] as const) {
      const dst = path.join(s.dir, `dst-${args.join('') || 'auto'}`);
      const r = await sync(dst, ...args);
      expect(r.code, why(r)).toBe(0);
      expect(treeDiff(src, dst)).toEqual([]);
      const sum = summary(r);
      expect(sum.bytesSent).toBe(textBytes + 4 * MiB);
      if (expectSmall) {
        expect(sum.wireBytes).toBeLessThan(4 * MiB + textBytes / 4); // text shrinks ...
        expect(sum.wireBytes).toBeGreaterThan(4 * MiB); // ... noise cannot
      } else {
        expect(sum.wireBytes).toBeGreaterThanOrEqual(sum.bytesSent);
      }
    }
  });

  it('16 bytes edited in each file travel as deltas inside the changed chunks: bytes, not chunks', async () => {
    const dst = path.join(s.dir, 'dst-delta');
    rmSync(dst, { recursive: true, force: true });
    expect((await sync(dst, '--compress', '3')).code).toBe(0);
    for (const f of ['captions.jsonl', 'pixels.bin']) {
      const b = readFileSync(path.join(src, f));
      b.write('SIXTEEN BYTES!!!', b.length >> 1);
      writeFileSync(path.join(src, f), b);
    }
    const r = await sync(dst, '--compress', '3');
    expect(r.code, why(r)).toBe(0);
    expect(treeDiff(src, dst)).toEqual([]);
    const sum = summary(r);
    expect(sum.chunksSent).toBeLessThanOrEqual(4);
    expect(sum.bytesSent).toBeGreaterThan(64 * 1024); // whole chunks changed ...
    expect(sum.wireBytes).toBeLessThan(8 * 1024); // ... but only the edits crossed
  });
});
