import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { nullReporter, type Warning } from '../../src/engine/events.js';
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.js';
import { decodeChunk, decodeChunks, encodeChunksHeader, ENC, MSG, type GroupItem } from '../../src/protocol/messages.js';
import { chunkBuffer } from '../../src/chunker/chunk-file.js';
import { Cutter } from '../../src/chunker/cdc.js';
import { DEFAULT_PARAMS } from '../../src/chunker/params.js';
import { scratchWithCaches } from '../helpers/cli.js';
import { noise } from '../helpers/data.js';
import { syncThrough } from '../helpers/in-memory.js';

/** Re-frames the stream, each frame's payload (a copy) as `edit` returns it. */
function reframe(edit: (type: number, payload: Buffer) => Buffer): Transform {
  const dec = new FrameDecoder();
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      for (const f of dec.push(chunk)) this.push(encodeFrame(f.type, edit(f.type, Buffer.from(f.payload))));
      done();
    },
  });
}

/** Flips one bit in the first `count` frames of `type`, by default inside the chunk data, past the header. */
function bitFlipper(count: number, type: number = MSG.CHUNK, at = (payload: Buffer) => payload.length - 100): Transform & { flipped: number } {
  const t = reframe((frameType, payload) => {
    if (frameType === type && t.flipped < count) {
      payload[at(payload)]! ^= 0x10;
      t.flipped++;
    }
    return payload;
  }) as Transform & { flipped: number };
  t.flipped = 0;
  return t;
}

// A transport checks its bytes in transit (SSH's MAC, the TCP data plane's AEAD): a chunk sent
// whole is hashed again by the receiver only with -c, which these tests use to reach that check.
describe('a bit flipped in a frame, with -c', () => {
  const s = scratchWithCaches();

  it('is caught by the chunk hash and the chunk is sent again; nothing corrupt is written', async () => {
    const src = path.join(s.dir, 'src');
    const dst = path.join(s.dir, 'dst');
    mkdirSync(src);
    const data = randomBytes(3 * 1024 * 1024);
    writeFileSync(path.join(src, 'data.bin'), data);
    const warnings: Warning[] = [];
    const flipper = bitFlipper(2);
    const stats = await syncThrough(src, dst, { tamper: flipper, checksum: true, reporter: { ...nullReporter, warning: (w) => warnings.push(w) } });
    expect(flipper.flipped).toBe(2);
    expect(warnings.filter((w) => /failed verification/.test(w.message))).toHaveLength(2);
    expect(readFileSync(path.join(dst, 'data.bin')).equals(data)).toBe(true);
    expect(stats.created).toBe(1);
  });

  it('in chunks compressed together: the chunks it damaged are sent again, nothing corrupt is written', async () => {
    const text = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `{"id":${i},"text":"${randomBytes(12).toString('hex')}"}\n`).join(''));
    // In the compressed data's first bytes (its frame header) no chunk can be rebuilt; near its
    // end, those that no longer match their hash.
    const dataStart = (payload: Buffer) => payload.length - decodeChunks(payload, 1 << 20).data.length;
    for (const [name, at] of [['header', (p: Buffer) => dataStart(p) + 2], ['data', (p: Buffer) => p.length - 100]] as const) {
      const src = path.join(s.dir, `src-${name}`);
      const dst = path.join(s.dir, `dst-${name}`);
      mkdirSync(src);
      writeFileSync(path.join(src, 'rows.jsonl'), text);
      const warnings: Warning[] = [];
      let groups: GroupItem[][] = [];
      const flipper = bitFlipper(1, MSG.CHUNKS, (p) => {
        groups.push(decodeChunks(p, 1 << 20).items);
        return at(p);
      });
      await syncThrough(src, dst, { tamper: flipper, checksum: true, reporter: { ...nullReporter, warning: (w) => warnings.push(w) }, compression: { kind: 'level', level: 3 } });
      expect(flipper.flipped).toBe(1);
      const refetched = warnings.filter((w) => /failed verification/.test(w.message)).length;
      expect(groups[0]!.length).toBeGreaterThan(1);
      if (name === 'header') expect(refetched).toBe(groups[0]!.length);
      else expect(refetched).toBeGreaterThanOrEqual(1);
      expect(refetched).toBeLessThanOrEqual(groups[0]!.length);
      expect(readFileSync(path.join(dst, 'rows.jsonl')).equals(text)).toBe(true);
      groups = [];
    }
  });

  it('a group naming one chunk twice is refused as a protocol error (exit 12), destination untouched', async () => {
    const src = path.join(s.dir, 'src-twice');
    const dst = path.join(s.dir, 'dst-twice');
    mkdirSync(src);
    writeFileSync(path.join(src, 'rows.jsonl'), Array.from({ length: 40_000 }, (_, i) => `{"id":${i},"text":"row ${i % 977}"}\n`).join(''));
    let rewritten = 0;
    const twice = reframe((type, payload) => {
      if (type !== MSG.CHUNKS || rewritten++ !== 0) return payload;
      const g = decodeChunks(payload, 1 << 20);
      g.items[1]!.hash = g.items[0]!.hash;
      return Buffer.concat([encodeChunksHeader(g.items), g.data]);
    });
    const warnings: Warning[] = [];
    await expect(syncThrough(src, dst, { tamper: twice, reporter: { ...nullReporter, warning: (w) => warnings.push(w) }, compression: { kind: 'level', level: 3 } })).rejects.toMatchObject({ code: 'PROTOCOL', message: expect.stringMatching(/not asked for/) });
    expect(rewritten).toBeGreaterThan(0);
    // refused as it came, before any chunk of it was checked or written
    expect(warnings.filter((w) => /failed verification/.test(w.message))).toEqual([]);
    expect(() => readFileSync(path.join(dst, 'rows.jsonl'))).toThrow();
  });

  it('a chunk that keeps arriving damaged ends the run with a protocol error (exit 12), destination untouched', async () => {
    const src = path.join(s.dir, 'src2');
    const dst = path.join(s.dir, 'dst2');
    mkdirSync(src);
    writeFileSync(path.join(src, 'data.bin'), randomBytes(200_000));
    await expect(syncThrough(src, dst, { tamper: bitFlipper(1000), checksum: true })).rejects.toMatchObject({ code: 'PROTOCOL' });
    expect(() => readFileSync(path.join(dst, 'data.bin'))).toThrow();
  });
});

describe('a delta rebuilt from the wrong base', () => {
  const s = scratchWithCaches();

  it('is caught by its hash without -c and sent again whole; nothing wrong is written', async () => {
    const src = path.join(s.dir, 'src');
    const dst = path.join(s.dir, 'dst');
    mkdirSync(src);
    // Fixed data, so the chunk layout the swap below needs is the same every run.
    const v1 = noise(2 * 1024 * 1024, 7);
    writeFileSync(path.join(src, 'data.bin'), v1);
    const compression = { kind: 'level', level: 3 } as const;
    await syncThrough(src, dst, { compression });
    const v2 = Buffer.from(v1);
    for (let i = 0; i < 16; i++) v2[1_000_000 + i]! ^= 0xff; // a small edit: that chunk goes as a delta
    writeFileSync(path.join(src, 'data.bin'), v2);
    // Point the delta at another chunk the receiver holds, at least as long as the real base, so
    // it rebuilds bytes of the right length without an error: only the hash can tell.
    const old = chunkBuffer(v1, new Cutter(DEFAULT_PARAMS));
    let swapped = 0;
    const swapBase = reframe((type, payload) => {
      if (type !== MSG.CHUNK || swapped > 0) return payload;
      const c = decodeChunk(payload, DEFAULT_PARAMS.max);
      if (c.encoding !== ENC.DELTA) return payload;
      const base = c.data.subarray(0, 32);
      const realLength = old.lengths[[...Array(old.count).keys()].find((i) => old.hash(i).equals(base))!]!;
      const other = [...Array(old.count).keys()].find((i) => !old.hash(i).equals(base) && old.lengths[i]! >= realLength);
      if (other === undefined) throw new Error('no chunk as long as the base to swap in');
      old.hash(other).copy(base); // base is a view into payload
      swapped++;
      return payload;
    });
    const warnings: Warning[] = [];
    await syncThrough(src, dst, { tamper: swapBase, compression, reporter: { ...nullReporter, warning: (w) => warnings.push(w) } });
    expect(swapped).toBe(1);
    expect(warnings.filter((w) => /failed verification/.test(w.message))).toHaveLength(1);
    expect(readFileSync(path.join(dst, 'data.bin')).equals(v2)).toBe(true);
  });
});
