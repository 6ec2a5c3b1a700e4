import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyDelta, BLOCK, makeDelta, signature } from '../../src/codec/delta.js';
import { DsyncError } from '../../src/errors/dsync-error.js';

describe('chunk deltas', () => {
  it('a 16-byte edit in a 64 KiB chunk costs about one block, not the chunk', () => {
    const base = randomBytes(64 * 1024);
    const edited = Buffer.from(base);
    randomBytes(16).copy(edited, 30_000);
    const ops = makeDelta(edited, signature(base));
    expect(ops.length).toBeLessThan(2 * BLOCK + 64);
    expect(applyDelta(base, ops, edited.length).equals(edited)).toBe(true);
  });

  it('finds blocks after an insertion shifts them', () => {
    const base = randomBytes(64 * 1024);
    const shifted = Buffer.concat([base.subarray(0, 10_000), Buffer.from('inserted text'), base.subarray(10_000)]);
    const ops = makeDelta(shifted, signature(base));
    expect(ops.length).toBeLessThan(2 * BLOCK + 64);
    expect(applyDelta(base, ops, shifted.length).equals(shifted)).toBe(true);
  });

  it('rebuilds any chunk from any base', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3 * BLOCK + 100 }), fc.uint8Array({ maxLength: 3 * BLOCK + 100 }), (base, data) => {
        const ops = makeDelta(data, signature(base));
        expect(applyDelta(base, ops, data.length).equals(Buffer.from(data))).toBe(true);
      }),
    );
  });

  it('rejects hostile ops without reading or writing out of bounds', () => {
    const base = randomBytes(3 * BLOCK);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 5 * BLOCK }), (ops, len) => {
        try {
          const out = applyDelta(base, Buffer.from(ops), len);
          expect(out.length).toBe(len);
        } catch (err) {
          expect(err).toBeInstanceOf(DsyncError);
        }
      }),
    );
  });
});
