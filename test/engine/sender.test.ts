import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nullReporter, type Warning } from '../../src/engine/events.js';
import { scratchWithCaches } from '../helpers/cli.js';
import { noise } from '../helpers/data.js';
import { syncThrough } from '../helpers/in-memory.js';
import { treeDiff } from '../helpers/tree.js';

describe('the sender', () => {
  const s = scratchWithCaches();

  // Sent raw (syncThrough does not compress), every chunk's frame refers to the slab it was read
  // into until its stream has taken it: a slab handed out again before that would send another
  // run's bytes, which the receiver would reject and ask for again.
  it('reads scattered changed chunks and small files into reused slabs without sending a byte of the wrong run', async () => {
    const src = path.join(s.dir, 'src');
    const dst = path.join(s.dir, 'dst');
    mkdirSync(src);
    mkdirSync(dst);
    const old = noise(8 << 20, 1);
    writeFileSync(path.join(dst, 'big.bin'), old);
    const edited = Buffer.from(old);
    for (let i = 0; i < 40; i++) noise(16, 100 + i).copy(edited, 100_000 + i * 200_000);
    writeFileSync(path.join(src, 'big.bin'), edited);
    for (let i = 0; i < 200; i++) writeFileSync(path.join(src, `small-${i}.bin`), noise(40_000 + i * 100, 1000 + i));
    const warnings: Warning[] = [];
    const stats = await syncThrough(src, dst, { reporter: { ...nullReporter, warning: (w) => warnings.push(w) } });
    expect(warnings).toEqual([]);
    expect(stats.chunksSent).toBeGreaterThanOrEqual(240);
    expect(treeDiff(src, dst)).toEqual([]);
  });
});
