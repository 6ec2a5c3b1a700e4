import { describe, expect, it } from 'vitest';
import { SlabClasses, SlabPool } from '../../src/util/slab-pool.js';

describe('SlabPool', () => {
  it('reuses a slab only after its last holder released it', () => {
    const pool = new SlabPool(1024, 4);
    const a = pool.take();
    a.hold();
    a.hold();
    a.release();
    a.release();
    expect(pool.take().buf).not.toBe(a.buf); // one holder left: not back yet
    a.release();
    expect(pool.take().buf).toBe(a.buf);
  });

  it('keeps at most `keep` free slabs', () => {
    const pool = new SlabPool(16, 1);
    const a = pool.take();
    const b = pool.take();
    a.release();
    b.release();
    const c = pool.take();
    const d = pool.take();
    expect(c.buf).toBe(a.buf);
    expect(d.buf).not.toBe(b.buf);
  });

  it('SlabClasses: the smallest power-of-two slab that fits, none for the very small or large', () => {
    const classes = new SlabClasses(1024, 8192, 4096);
    const sizes = [512, 1024, 1025, 3000, 8192].map((n) => classes.take(n)!.buf.length);
    expect(sizes).toEqual([1024, 1024, 2048, 4096, 8192]);
    expect(classes.take(511)).toBeNull();
    expect(classes.take(8193)).toBeNull();
    // each size keeps its own free slabs (here 4096 bytes' worth: two of 2048)
    const a = classes.take(2000)!;
    const b = classes.take(2000)!;
    const c = classes.take(2000)!;
    for (const s of [a, b, c]) s.release();
    expect([classes.take(1500)!.buf, classes.take(1500)!.buf, classes.take(1500)!.buf].filter((x) => x === a.buf || x === b.buf || x === c.buf)).toHaveLength(2);
    expect(classes.take(1000)!.buf).not.toBe(a.buf);
  });
});
