import { describe, expect, it } from 'vitest';
import { SlabPool } from '../../src/util/slab-pool.js';

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
});
