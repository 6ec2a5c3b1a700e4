import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import xxhash from 'xxhash-wasm';
import { describe, expect, it } from 'vitest';
import { applyDelta, BLOCK, makeDelta, signature } from '../../src/codec/delta.js';
import { DELTA_WASM } from '../../src/codec/delta-wasm.js';
import { Writer } from '../../src/util/binary.js';
import { compiledWat } from '../helpers/wasm.js';

const { h32Raw } = await xxhash();

/** Signature and delta search in plain JavaScript, as they were before delta.wat: the oracle. */
function weakRef(d: Uint8Array, p: number): number {
  let a = 0;
  let b = 0;
  for (let i = p; i < p + BLOCK; i++) {
    a = (a + d[i]!) & 0xffff;
    b = (b + a) & 0xffff;
  }
  return ((b << 16) | a) >>> 0;
}
const strongRef = (d: Uint8Array, p: number) => h32Raw(d.subarray(p, p + BLOCK), 0);

function signatureRef(base: Uint8Array): Buffer {
  const n = Math.floor(base.length / BLOCK);
  const out = Buffer.alloc(n * 8);
  for (let i = 0; i < n; i++) {
    out.writeUInt32BE(weakRef(base, i * BLOCK), i * 8);
    out.writeUInt32BE(strongRef(base, i * BLOCK), i * 8 + 4);
  }
  return out;
}

function makeDeltaRef(data: Uint8Array, sig: Buffer): Buffer {
  const blocks = sig.length / 8;
  const strongs = Array.from({ length: blocks }, (_, i) => sig.readUInt32BE(i * 8 + 4));
  const byWeak = new Map<number, number[]>();
  for (let i = 0; i < blocks; i++) byWeak.set(sig.readUInt32BE(i * 8), [...(byWeak.get(sig.readUInt32BE(i * 8)) ?? []), i]);
  const w = new Writer(1024);
  let lit = 0;
  let runBlock = -1;
  let runCount = 0;
  const flushRun = () => {
    if (runCount) w.u8(1).uvar(runBlock).uvar(runCount);
    runCount = 0;
  };
  const flushLiteral = (end: number) => {
    if (end > lit) {
      flushRun();
      w.u8(0).bytes(data.subarray(lit, end));
    }
  };
  let p = 0;
  let fresh = true;
  let weak = 0;
  const matched = (hit: number) => {
    flushLiteral(p);
    if (runCount && hit === runBlock + runCount) runCount++;
    else {
      flushRun();
      runBlock = hit;
      runCount = 1;
    }
    p += BLOCK;
    lit = p;
    fresh = true;
  };
  while (blocks && p + BLOCK <= data.length) {
    const next = runBlock + runCount;
    if (fresh && runCount && next < blocks && strongs[next] === strongRef(data, p)) {
      matched(next);
      continue;
    }
    if (fresh) weak = weakRef(data, p);
    fresh = false;
    const s = byWeak.has(weak) ? strongRef(data, p) : -1;
    const hit = byWeak.get(weak)?.find((c) => strongs[c] === s);
    if (hit !== undefined) {
      matched(hit);
      continue;
    }
    if (p + BLOCK < data.length) {
      // roll one byte, both sums modulo 2^16
      const out = data[p]!;
      const a = ((weak & 0xffff) - out + data[p + BLOCK]!) & 0xffff;
      const b = ((weak >>> 16) - BLOCK * out + a) & 0xffff;
      weak = ((b << 16) | a) >>> 0;
    }
    p++;
  }
  flushLiteral(data.length);
  flushRun();
  return w.finish();
}

/** A chunk edited from `base`: bytes replaced, inserted and removed at random places. */
const edited = fc
  .tuple(
    fc.uint8Array({ minLength: 2 * BLOCK, maxLength: 6 * BLOCK + 300 }),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 300 }), fc.uint8Array({ maxLength: 40 })), { maxLength: 4 }),
  )
  .map(([base, edits]) => {
    let data = Buffer.from(base);
    for (const [at, cut, put] of edits) {
      const i = data.length ? at % data.length : 0;
      data = Buffer.concat([data.subarray(0, i), put, data.subarray(i + cut)]);
    }
    return { base: Buffer.from(base), data };
  });

describe('delta.wat', () => {
  it('gives the signatures and deltas of the plain JavaScript search', () => {
    fc.assert(
      fc.property(edited, ({ base, data }) => {
        const sig = signature(base);
        expect(sig.equals(signatureRef(base))).toBe(true);
        const ops = makeDelta(data, sig);
        expect(ops.equals(makeDeltaRef(data, sig))).toBe(true);
        expect(applyDelta(base, ops, data.length).equals(data)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('grows its memory for chunks larger than it holds', () => {
    const base = randomBytes(1024 * 1024 + 5);
    const data = Buffer.concat([base.subarray(0, 300_000), randomBytes(77), base.subarray(300_500)]);
    const ops = makeDelta(data, signature(base));
    expect(ops.equals(makeDeltaRef(data, signatureRef(base)))).toBe(true);
    expect(ops.length).toBeLessThan(3 * BLOCK);
  });

  it('is what delta.wat compiles to (checked where wat2wasm is installed)', (ctx) => {
    const built = compiledWat('src/codec/delta.wat');
    if (built === null) return ctx.skip();
    expect(built).toBe(DELTA_WASM);
  });
});
