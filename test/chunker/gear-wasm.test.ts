import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Cutter } from '../../src/chunker/cdc.js';
import { GEAR, GEAR_LS } from '../../src/chunker/gear.js';
import { GEAR_WASM } from '../../src/chunker/gear-wasm.js';
import type { ChunkParams } from '../../src/chunker/params.js';
import { compiledWat } from '../helpers/wasm.js';

/** The cut rule in plain JavaScript, as it was before gear.wat: the oracle the module must match. */
function referenceCut(p: ChunkParams, buf: Uint8Array, start: number, end: number, eof: boolean): number {
  const top = (bits: number) => (((1 << bits) - 1) << (31 - bits)) | 0;
  const bits = Math.log2(p.avg);
  const mS = top(bits + 2), mL = top(bits - 2);
  const normalLen = Math.max(p.min, p.avg - (p.min >> 1));
  const avail = end - start;
  if (avail <= p.min) return eof ? avail : 0;
  const limit = start + Math.min(avail, p.max);
  const normal = Math.min(limit, start + normalLen);
  let h = 0;
  let i = start + p.min;
  for (; i + 1 < normal; i += 2) {
    h = ((h << 2) + GEAR_LS[buf[i]!]!) | 0;
    if ((h & (mS << 1)) === 0) return i - start + 1;
    h = (h + GEAR[buf[i + 1]!]!) | 0;
    if ((h & mS) === 0) return i - start + 2;
  }
  for (; i + 1 < limit; i += 2) {
    h = ((h << 2) + GEAR_LS[buf[i]!]!) | 0;
    if ((h & (mL << 1)) === 0) return i - start + 1;
    h = (h + GEAR[buf[i + 1]!]!) | 0;
    if ((h & mL) === 0) return i - start + 2;
  }
  if (i < limit) {
    if (!eof && limit - start < p.max) return 0;
    h = ((h << 1) + GEAR[buf[i]!]!) | 0;
    if ((h & (i < start + normalLen ? mS : mL)) === 0) return i - start + 1;
  }
  if (limit - start === p.max) return p.max;
  return eof ? avail : 0;
}

/** Small chunk sizes, so that short inputs cross every branch (normal point, max, a lone last byte). */
const params = fc
  .record({ avgBits: fc.integer({ min: 8, max: 12 }), minDiv: fc.integer({ min: 1, max: 3 }), maxMul: fc.integer({ min: 1, max: 3 }) })
  .map(({ avgBits, minDiv, maxMul }) => ({ min: (1 << avgBits) >> (minDiv + 1), avg: 1 << avgBits, max: (1 << avgBits) << maxMul }));

/** Random bytes with runs of one value: low-entropy data rolls the hash to where masks rarely match. */
const data = fc.array(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.record({ v: fc.integer({ min: 0, max: 255 }), n: fc.integer({ min: 1, max: 5000 }) }).map(({ v, n }) => new Uint8Array(n).fill(v))), { maxLength: 8 }).map((parts) => Buffer.concat(parts));

describe('gear loop in WebAssembly', () => {
  it('cuts exactly where the JavaScript rule cuts, in any buffer, at any end, with or without eof', () => {
    fc.assert(
      fc.property(params, data, fc.nat(), fc.nat(), fc.boolean(), (p, bytes, a, b, eof) => {
        const cutter = new Cutter(p);
        const start = bytes.length ? a % bytes.length : 0;
        const end = start + (bytes.length - start ? b % (bytes.length - start + 1) : 0);
        expect(cutter.cut(bytes, start, end, eof)).toBe(referenceCut(p, bytes, start, end, eof));
        // The same bytes in the cutter's own memory are cut in place, to the same answer.
        const own = cutter.scanBuffer(bytes.length + 16);
        bytes.copy(own, 16);
        expect(cutter.cut(own, 16 + start, 16 + end, eof)).toBe(referenceCut(p, bytes, start, end, eof));
      }),
      { numRuns: 400 },
    );
  });

  it('is what gear.wat compiles to (checked where wat2wasm is installed)', (ctx) => {
    const built = compiledWat('src/chunker/gear.wat');
    if (built === null) return ctx.skip();
    expect(built).toBe(GEAR_WASM);
  });
});
