import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/chunker/chunk-file.js';
import { CompressionGovernor, SAMPLE_EVERY, WINDOW } from '../../src/codec/adaptive.js';
import { ChunkDecoder, ChunkEncoder, type Compression } from '../../src/codec/chunk-codec.js';
import { signature } from '../../src/codec/delta.js';
import { ENC } from '../../src/protocol/messages.js';

const text = Buffer.from(Array.from({ length: 3000 }, (_, i) => `{"id":${i},"label":"cat","split":"train"}\n`).join('')).subarray(0, 64 * 1024);
const noise = randomBytes(64 * 1024);

function roundTrip(mode: Compression, data: Buffer, base?: Buffer) {
  const enc = new ChunkEncoder(mode);
  const out = enc.encode(data, base ? { hash: sha256(base), sig: signature(base) } : undefined);
  const payload = Buffer.from(out.payload);
  const back = new ChunkDecoder().decode({ hash: sha256(data), encoding: out.encoding, rawLength: data.length, data: payload }, () => base ?? null);
  expect(back.equals(data)).toBe(true);
  return { encoding: out.encoding, size: payload.length };
}

describe('chunk codec: --compress auto, none and levels', () => {
  it('auto compresses what compresses and sends incompressible data raw', () => {
    const t = roundTrip({ kind: 'auto' }, text);
    expect(t.encoding).toBe(ENC.ZSTD);
    expect(t.size).toBeLessThan(text.length / 5);
    expect(roundTrip({ kind: 'auto' }, noise)).toEqual({ encoding: ENC.RAW, size: noise.length });
  });

  it('auto tells its governor how long the compressor took for each whole chunk it tried', () => {
    const governor = new CompressionGovernor();
    const calls: [number, number][] = [];
    governor.compressed = (bytes, ms) => calls.push([bytes, ms]);
    const enc = new ChunkEncoder({ kind: 'auto' }, governor);
    enc.encode(text);
    enc.encode(noise);
    expect(calls.map(([bytes]) => bytes)).toEqual([text.length, noise.length]);
    expect(calls.every(([, ms]) => ms >= 0)).toBe(true);
    governor.compressing = false; // raw chosen: no whole chunk is compressed, so none is timed
    enc.encode(text);
    expect(calls.length).toBe(2);
  });

  it('adjacent chunks compressed as one take fewer bytes than each alone; a group that does not shrink is refused', () => {
    // Rows of words from a vocabulary larger than one chunk shows: what one chunk learns, the next reuses.
    const vocab = Array.from({ length: 4000 }, (_, i) => randomBytes(3 + (i % 6)).toString('base64url'));
    const rows = Buffer.from(Array.from({ length: 8000 }, (_, i) => `{"id":${i},"text":"${Array.from({ length: 8 }, (_, k) => vocab[(i * 7919 + k * 104729) % vocab.length]).join(' ')}"}\n`).join('')).subarray(0, 512 * 1024);
    const enc = new ChunkEncoder({ kind: 'level', level: 3 });
    expect(enc.grouping).toBe(true);
    let alone = 0;
    for (let at = 0; at < rows.length; at += 64 * 1024) alone += enc.encode(rows.subarray(at, at + 64 * 1024)).payload.length;
    const packed = enc.encodeGroup(rows)!;
    expect(packed.length).toBeLessThan(alone * 0.97);
    expect(new ChunkDecoder().decodeGroup(packed, rows.length).equals(rows)).toBe(true);
    expect(() => new ChunkDecoder().decodeGroup(packed, rows.length - 1)).toThrow();
    expect(enc.encodeGroup(Buffer.concat([noise, noise.subarray(0, 1000)]).subarray(0, 128 * 1024))).toBeNull();
    // only while whole chunks are compressed: never with none, and not while auto sends raw
    expect(new ChunkEncoder({ kind: 'none' }).grouping).toBe(false);
    const governor = new CompressionGovernor();
    const auto = new ChunkEncoder({ kind: 'auto' }, governor);
    expect(auto.grouping).toBe(true);
    governor.compressing = false;
    expect(auto.grouping).toBe(false);
  });

  it('a payload outlives the next encode: it may still wait in a stream\'s queue', () => {
    const enc = new ChunkEncoder({ kind: 'auto' });
    const other = Buffer.from(text.toString('latin1').replace(/cat/g, 'owl'), 'latin1');
    const edited = Buffer.from(other);
    edited.write('sixteen byte edit', 40_000);
    const first = enc.encode(text);
    const delta = enc.encode(edited, { hash: sha256(other), sig: signature(other) });
    enc.encode(other);
    expect([first.encoding, delta.encoding]).toEqual([ENC.ZSTD, ENC.DELTA]);
    const dec = new ChunkDecoder();
    expect(dec.decode({ hash: sha256(text), encoding: first.encoding, rawLength: text.length, data: first.payload }, () => null).equals(text)).toBe(true);
    expect(dec.decode({ hash: sha256(edited), encoding: delta.encoding, rawLength: edited.length, data: delta.payload }, () => other).equals(edited)).toBe(true);
  });

  it('auto compresses the first window at level 3, bulk data after it at the faster level 2', () => {
    const governor = new CompressionGovernor();
    const enc = new ChunkEncoder({ kind: 'auto' }, governor);
    const atLevel = (level: number) => new ChunkEncoder({ kind: 'level', level }).encode(text).payload;
    expect(atLevel(2).equals(atLevel(3))).toBe(false); // the data tells the levels apart
    expect(enc.encode(text).payload.equals(atLevel(3))).toBe(true);
    enc.sent(WINDOW, WINDOW / 3);
    expect(governor.bulk).toBe(true);
    governor.compressing = true;
    expect(enc.encode(text).payload.equals(atLevel(2))).toBe(true);
  });

  it('while auto sends raw, it compresses a sample chunk per SAMPLE_EVERY bytes and sends it compressed', () => {
    const governor = new CompressionGovernor();
    const samples: number[][] = [];
    governor.sampled = (bytes, wire, ms) => samples.push([bytes, wire, ms]);
    governor.compressing = false;
    const enc = new ChunkEncoder({ kind: 'auto' }, governor);
    const encodings = Array.from({ length: 2 * (SAMPLE_EVERY / text.length) }, () => enc.encode(text).encoding);
    expect(encodings.filter((e) => e === ENC.ZSTD).length).toBe(2);
    expect(encodings[0]).toBe(ENC.ZSTD);
    expect(samples.map(([bytes, wire]) => [bytes, wire! < text.length / 5])).toEqual([
      [text.length, true],
      [text.length, true],
    ]);
  });

  it('none never compresses; an explicit level compresses harder', () => {
    expect(roundTrip({ kind: 'none' }, text)).toEqual({ encoding: ENC.RAW, size: text.length });
    expect(roundTrip({ kind: 'level', level: 19 }, text).size).toBeLessThanOrEqual(roundTrip({ kind: 'level', level: 1 }, text).size);
  });

  it('an edit inside a chunk travels as a delta against the old chunk', () => {
    const old = randomBytes(64 * 1024);
    const edited = Buffer.from(old);
    edited.write('sixteen byte edit', 40_000);
    const d = roundTrip({ kind: 'auto' }, edited, old);
    expect(d.encoding).toBe(ENC.DELTA);
    expect(d.size).toBeLessThan(3000);
    // Not with --compress none: deltas ride on the compressed path.
    expect(roundTrip({ kind: 'none' }, edited, old).encoding).toBe(ENC.RAW);
  });

  it('a chunk is compressed once: as a delta where much of its base is in it, else whole', () => {
    const governor = new CompressionGovernor();
    const whole: number[] = [];
    governor.compressed = (bytes) => whole.push(bytes);
    const enc = new ChunkEncoder({ kind: 'auto' }, governor);
    const plainSize = roundTrip({ kind: 'auto' }, text).size;
    // Half of it rewritten: the delta carries the new half, about half of what the whole would take.
    const half = Buffer.concat([text.subarray(0, 32 * 1024), Buffer.from(text.subarray(32 * 1024).toString('latin1').replace(/cat/g, 'dog'), 'latin1')]);
    const base = { hash: sha256(text), sig: signature(text) };
    const d = enc.encode(half, base);
    expect(d.encoding).toBe(ENC.DELTA);
    expect(d.payload.length).toBeLessThan(plainSize * 0.7);
    expect(new ChunkDecoder().decode({ hash: sha256(half), encoding: d.encoding, rawLength: half.length, data: Buffer.from(d.payload) }, () => text).equals(half)).toBe(true);
    expect(whole).toEqual([]);
    // Nothing of the base in it: compressed whole, and only that.
    const other = Buffer.from(text.toString('latin1').replace(/train/g, 'valid'), 'latin1');
    const p = enc.encode(other, { hash: sha256(noise), sig: signature(noise) });
    expect(p.encoding).toBe(ENC.ZSTD);
    expect(whole).toEqual([other.length]);
  });

  it('any mode round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70_000 }), fc.constantFrom<Compression>({ kind: 'auto' }, { kind: 'none' }, { kind: 'level', level: 7 }), (bytes, mode) => {
        roundTrip(mode, Buffer.from(bytes));
      }),
      { numRuns: 40 },
    );
  });

  it('damaged or oversized payloads are rejected, never returned', () => {
    const out = new ChunkEncoder({ kind: 'auto' }).encode(text);
    const payload = Buffer.from(out.payload);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: payload.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const bad = Buffer.from(payload);
        bad[at]! ^= x;
        let back: Buffer | null = null;
        try {
          back = new ChunkDecoder().decode({ hash: sha256(text), encoding: ENC.ZSTD, rawLength: text.length, data: bad }, () => null);
        } catch {
          return; // rejected
        }
        // zstd may decode some damage into other bytes of the right length: the chunk hash check
        // in the receiver is what rejects those (see engine/corruption.test.ts).
        expect(back.length).toBe(text.length);
      }),
      { numRuns: 200 },
    );
    expect(() => new ChunkDecoder().decode({ hash: sha256(text), encoding: ENC.ZSTD, rawLength: 100, data: payload }, () => null)).toThrow();
    expect(() => new ChunkDecoder().decode({ hash: sha256(text), encoding: ENC.DELTA, rawLength: 100, data: Buffer.alloc(40) }, () => null)).toThrow(/base/);
  });

  it('one decoder decodes chunk after chunk, deltas too, in the buffer it keeps, bounded by each chunk\'s length', () => {
    const dec = new ChunkDecoder();
    const enc = new ChunkEncoder({ kind: 'level', level: 3 });
    let kept: ArrayBufferLike | null = null;
    for (const len of [64 * 1024, 1000, 30_000, 64 * 1024]) {
      const data = text.subarray(0, len);
      const out = enc.encode(data);
      expect(out.encoding).toBe(ENC.ZSTD);
      const back = dec.decode({ hash: sha256(data), encoding: out.encoding, rawLength: len, data: Buffer.from(out.payload) }, () => null);
      expect(back.equals(data)).toBe(true);
      kept ??= back.buffer;
      expect(back.buffer).toBe(kept); // the first chunk was the largest: no new buffer since
    }
    // A delta is rebuilt in the same buffer.
    const edited = Buffer.from(text);
    edited.write('sixteen byte edit', 40_000);
    const delta = new ChunkEncoder({ kind: 'auto' }).encode(edited, { hash: sha256(text), sig: signature(text) });
    expect(delta.encoding).toBe(ENC.DELTA);
    const rebuilt = dec.decode({ hash: sha256(edited), encoding: delta.encoding, rawLength: edited.length, data: Buffer.from(delta.payload) }, () => text);
    expect(rebuilt.equals(edited)).toBe(true);
    expect(rebuilt.buffer).toBe(kept);
    // A payload that holds more than its announced length is refused, though the kept buffer
    // would have room for it.
    const whole = Buffer.from(enc.encode(text).payload);
    expect(() => dec.decode({ hash: sha256(text), encoding: ENC.ZSTD, rawLength: 100, data: whole }, () => null)).toThrow();
  });
});
