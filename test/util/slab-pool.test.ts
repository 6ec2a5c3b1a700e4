import { describe, expect, it } from 'vitest';
import { SlabClasses, SlabPool, SliceArena } from '../../src/util/slab-pool.js';

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

describe('SliceArena', () => {
  it('cuts slices back to back, and a slab serves again only once all its slices are back and the arena moved on', () => {
    const pool = new SlabPool(1024, 4);
    const arena = new SliceArena(pool);
    const a = arena.take(200);
    const b = arena.take(200);
    expect(a.buffer).toBe(b.buffer);
    expect(b.byteOffset).toBe(a.byteOffset + 200);
    a.fill(1);
    b.fill(2);
    expect(a.every((x) => x === 1)).toBe(true); // no overlap
    const slab = a.buffer;
    arena.releaseOf(a)!();
    arena.releaseOf(b)!();
    expect(arena.take(200).buffer).toBe(slab); // still the current slab: cut on
    const rest = [arena.take(200), arena.take(200), arena.take(200)];
    expect(arena.take(200).buffer).not.toBe(slab); // full: the arena moves on
    expect(pool.take().buf.buffer).not.toBe(slab); // three slices of it are still out
    for (const r of rest) arena.releaseOf(r)!();
    expect(pool.take().buf.buffer).not.toBe(slab); // and one more, taken before the others
  });

  it('gives a slab back to its pool when the last slice returns, and keeps an unreturned one out', () => {
    const pool = new SlabPool(1024, 4);
    const arena = new SliceArena(pool);
    const kept = arena.take(256);
    const others = [arena.take(256), arena.take(256), arena.take(256)];
    arena.take(1); // the slab is full: the arena moves on to another
    for (const o of others) arena.releaseOf(o)!();
    expect(pool.take().buf.buffer).not.toBe(kept.buffer); // `kept` still holds its slab
    arena.releaseOf(kept)!();
    expect(pool.take().buf.buffer).toBe(kept.buffer);
  });

  it('gives large requests buffers of their own, which it does not take back', () => {
    const arena = new SliceArena(new SlabPool(1024, 4));
    const big = arena.take(300);
    expect(big.length).toBe(300);
    expect(arena.releaseOf(big)).toBeUndefined();
    expect(arena.releaseOf(Buffer.alloc(10))).toBeUndefined();
  });
});
