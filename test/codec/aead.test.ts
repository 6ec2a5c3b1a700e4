import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_RECORD, newSessionKey, Opener, Sealer } from '../../src/codec/aead.js';

const key = newSessionKey();

/** Feed `bytes` to an opener in pieces of the given sizes; the plaintext it yields, joined. */
function openAll(op: Opener, bytes: Buffer, splits: number[] = [bytes.length || 1]): Buffer {
  const out: Buffer[] = [];
  for (let pos = 0, i = 0; pos < bytes.length; i++) {
    const n = splits[i % splits.length]!;
    out.push(...op.push(bytes.subarray(pos, pos + n)));
    pos += n;
  }
  return Buffer.concat(out);
}

function sealAll(s: Sealer, messages: Uint8Array[]): { wire: Buffer; records: Buffer[] } {
  const records = messages.map((m) => Buffer.concat(s.seal([Buffer.from(m)])));
  return { wire: Buffer.concat(records), records };
}

describe('AEAD record layer of --transport tcp', () => {
  it('opens what was sealed, however the byte stream is split', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 900 }), { minLength: 1, maxLength: 20 }), (messages, splits) => {
        const { wire } = sealAll(new Sealer(key, 0, 3), messages);
        const op = new Opener(key, 0, 3);
        expect(openAll(op, wire, splits).equals(Buffer.concat(messages))).toBe(true);
        expect(op.pending).toBe(0);
      }),
    );
  });

  it('splits large writes into bounded records', () => {
    const big = Buffer.alloc(MAX_RECORD * 2 + 5, 7);
    const parts = new Sealer(key, 1, 0).seal([big]);
    expect(parts).toHaveLength(9); // three records of header, ciphertext, tag
    expect(openAll(new Opener(key, 1, 0), Buffer.concat(parts)).equals(big)).toBe(true);
  });

  it('rejects any flipped bit, in the length, the ciphertext or the tag', () => {
    const { wire } = sealAll(new Sealer(key, 0, 1), [Buffer.from('chunk data that must not be altered')]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: wire.length * 8 - 1 }), (bit) => {
        const bad = Buffer.from(wire);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        const op = new Opener(key, 0, 1);
        let opened: Buffer | null = null;
        try {
          opened = openAll(op, bad);
        } catch (err) {
          expect((err as Error).message).toMatch(/failed authentication/);
          return;
        }
        // A flipped length bit can only make the record look longer: it waits for bytes that never
        // come (a truncated stream), and nothing was released.
        expect(opened.length).toBe(0);
        expect(op.pending).toBeGreaterThan(0);
      }),
    );
  });

  it('rejects a replayed, reordered or dropped record', () => {
    const { records } = sealAll(new Sealer(key, 0, 2), [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')]);
    const [a, b, c] = records as [Buffer, Buffer, Buffer];
    expect(() => openAll(new Opener(key, 0, 2), Buffer.concat([a, a]))).toThrow(/failed authentication/);
    expect(() => openAll(new Opener(key, 0, 2), Buffer.concat([b, a]))).toThrow(/failed authentication/);
    expect(() => openAll(new Opener(key, 0, 2), Buffer.concat([a, c]))).toThrow(/failed authentication/);
    expect(openAll(new Opener(key, 0, 2), Buffer.concat([a, b, c])).toString()).toBe('onetwothree');
  });

  it('rejects records moved to another stream, direction or session', () => {
    const { wire } = sealAll(new Sealer(key, 0, 2), [Buffer.from('payload')]);
    expect(() => openAll(new Opener(key, 0, 3), wire)).toThrow(/failed authentication/);
    expect(() => openAll(new Opener(key, 1, 2), wire)).toThrow(/failed authentication/);
    expect(() => openAll(new Opener(newSessionKey(), 0, 2), wire)).toThrow(/failed authentication/);
  });

  it('keeps a truncated record pending instead of releasing any of it', () => {
    const { wire } = sealAll(new Sealer(key, 0, 0), [Buffer.alloc(1000, 1)]);
    const op = new Opener(key, 0, 0);
    expect(op.push(wire.subarray(0, wire.length - 1))).toEqual([]);
    expect(op.pending).toBe(wire.length - 1);
  });

  it('refuses an oversized length field before buffering it', () => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(MAX_RECORD + 1);
    expect(() => new Opener(key, 0, 0).push(head)).toThrow(/failed authentication/);
  });
});
