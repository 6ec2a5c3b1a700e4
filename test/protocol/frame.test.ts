import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DsyncError } from '../../src/errors/dsync-error.js';
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.js';
import { decodeChunk, decodeChunkMissing, decodeChunks, encodeChunksHeader, GROUP_MAX, decodeError, decodeHandshake, decodeManifestBegin, decodeManifestEnd, decodeWant, encodeChunkHeader, encodeWant, encodeHandshake, ENC } from '../../src/protocol/messages.js';
import { parseHello } from '../../src/protocol/hello.js';
import { parseOffer } from '../../src/engine/data-plane.js';
import { SlabClasses } from '../../src/util/slab-pool.js';

describe('frame decoder (sans-IO)', () => {
  // Pooled: frames of type 7 from 128 to 2048 bytes that span pieces are put together in slabs,
  // each released as soon as its payload was read, so later frames reuse them.
  const decoders: [string, () => FrameDecoder][] = [
    ['plain', () => new FrameDecoder()],
    ['pooled', () => {
      const slabs = new SlabClasses(256, 2048, 4096);
      return new FrameDecoder(undefined, { types: [7], take: (n) => slabs.take(n) });
    }],
  ];
  for (const [name, make] of decoders) {
    it(`yields the same frames however the byte stream is split (${name})`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.oneof(fc.constant(7), fc.integer({ min: 0, max: 255 })), fc.uint8Array({ maxLength: 2000 })), { maxLength: 20 }),
          fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 50 }),
          (frames, splits) => {
            const bytes = Buffer.concat(frames.map(([t, p]) => encodeFrame(t, p)));
            const dec = make();
            const out: [number, Buffer][] = [];
            let pos = 0;
            let i = 0;
            while (pos < bytes.length) {
              const n = splits[i++ % splits.length]!;
              for (const f of dec.push(bytes.subarray(pos, pos + n))) {
                out.push([f.type, Buffer.from(f.payload)]);
                f.release?.();
              }
              pos += n;
            }
            expect(out.map(([t, p]) => [t, p.toString('hex')])).toEqual(frames.map(([t, p]) => [t, Buffer.from(p).toString('hex')]));
            expect(dec.pending).toBe(0);
          },
        ),
      );
    });
  }

  it('puts a chunk that spans reads together in a slab, reused once released', () => {
    const slabs = new SlabClasses(1024, 1024, 2048); // frames of 512 to 1024 bytes
    const dec = new FrameDecoder(undefined, { types: [7], take: (n) => slabs.take(n) });
    const split = (f: Buffer) => [f.subarray(0, 300), f.subarray(300)];
    const [a1, a2] = split(encodeFrame(7, Buffer.alloc(600, 1)));
    expect(dec.push(a1!)).toEqual([]);
    const [a] = dec.push(a2!);
    expect(a!.payload).toEqual(Buffer.alloc(600, 1));
    expect(a!.release).toBeTypeOf('function');
    const slab = a!.payload.buffer;
    // Still held: the next one gets another slab, and the first payload is left alone.
    const [b1, b2] = split(encodeFrame(7, Buffer.alloc(600, 2)));
    dec.push(b1!);
    const [b] = dec.push(b2!);
    expect(b!.payload.buffer).not.toBe(slab);
    expect(a!.payload).toEqual(Buffer.alloc(600, 1));
    a!.release!();
    const [c1, c2] = split(encodeFrame(7, Buffer.alloc(600, 3)));
    dec.push(c1!);
    const [c] = dec.push(c2!);
    expect(c!.payload.buffer).toBe(slab);
    expect(c!.payload).toEqual(Buffer.alloc(600, 3));
    // Not pooled: a frame in one piece, another type, one under the minimum or over a slab.
    for (const [type, len, pieces] of [[7, 600, 1], [8, 600, 2], [7, 100, 2], [7, 2000, 2]] as const) {
      const f = encodeFrame(type, Buffer.alloc(len, 4));
      const got = pieces === 1 ? dec.push(f) : [...dec.push(f.subarray(0, 50)), ...dec.push(f.subarray(50))];
      expect(got.map((x) => [x.type, x.payload.length, x.release])).toEqual([[type, len, undefined]]);
    }
  });

  it('rejects a length field out of range before buffering it', () => {
    const dec = new FrameDecoder(1024);
    expect(() => dec.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]))).toThrow(/frame length/);
    expect(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 0, 1]))).toThrow(DsyncError);
  });
});

/** Every decoder of bytes from the other side either succeeds or throws a PROTOCOL DsyncError. */
describe('message decoders on hostile input', () => {
  const decoders: [string, (b: Buffer) => unknown][] = [
    ['handshake', (b) => decodeHandshake(b, 'x')],
    ['error', (b) => decodeError(b)],
    ['manifest begin', (b) => decodeManifestBegin(b)],
    ['manifest end', (b) => decodeManifestEnd(b)],
    ['want', (b) => decodeWant(b, 256 * 1024)],
    ['chunk', (b) => decodeChunk(b, 256 * 1024)],
    ['chunk group', (b) => decodeChunks(b, 256 * 1024)],
    ['chunk missing', (b) => decodeChunkMissing(b)],
  ];
  for (const [name, fn] of decoders) {
    it(`${name}: random bytes are rejected cleanly`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
          try {
            fn(Buffer.from(b));
          } catch (err) {
            expect(err).toBeInstanceOf(DsyncError);
            expect((err as DsyncError).code).toBe('PROTOCOL');
          }
        }),
      );
    });
  }

  it('want lists round-trip, with and without a delta base', () => {
    const items = [{ hash: Buffer.alloc(32, 1) }, { hash: Buffer.alloc(32, 2), base: { hash: Buffer.alloc(32, 3), sig: Buffer.alloc(24, 4) } }];
    const back = decodeWant(encodeWant(items), 256 * 1024);
    expect(back.map((w) => [w.hash.toString('hex'), w.base?.hash.toString('hex'), w.base?.sig.length])).toEqual(items.map((w) => [w.hash.toString('hex'), w.base?.hash.toString('hex'), w.base?.sig.length]));
    // a signature larger than the largest chunk could have is refused
    expect(() => decodeWant(encodeWant([{ hash: Buffer.alloc(32), base: { hash: Buffer.alloc(32), sig: Buffer.alloc(12 * 200) } }]), 256 * 1024)).toThrow(DsyncError);
  });

  it('a raw chunk must carry exactly its announced length, bounded by the maximum chunk', () => {
    const hash = Buffer.alloc(32, 1);
    const ok = Buffer.concat([encodeChunkHeader({ hash, encoding: ENC.RAW, rawLength: 4 }), Buffer.from('abcd')]);
    expect(decodeChunk(ok, 1024).data.toString()).toBe('abcd');
    const short = Buffer.concat([encodeChunkHeader({ hash, encoding: ENC.RAW, rawLength: 5 }), Buffer.from('abcd')]);
    expect(() => decodeChunk(short, 1024)).toThrow(/length mismatch/);
    const huge = encodeChunkHeader({ hash, encoding: ENC.ZSTD, rawLength: 1 << 30 });
    expect(() => decodeChunk(huge, 1024)).toThrow(/exceeds/);
  });

  it('chunk groups round-trip and are bounded: two chunks or more, each within the maximum chunk, together within GROUP_MAX', () => {
    const item = (i: number, rawLength: number) => ({ hash: Buffer.alloc(32, i), rawLength });
    const group = (items: { hash: Buffer; rawLength: number }[]) => Buffer.concat([encodeChunksHeader(items), Buffer.from('zstd')]);
    const back = decodeChunks(group([item(1, 1000), item(2, 3000)]), 4096);
    expect(back.items.map((it) => [it.hash[0], it.rawLength])).toEqual([[1, 1000], [2, 3000]]);
    expect([back.total, back.data.toString()]).toEqual([4000, 'zstd']);
    expect(() => decodeChunks(group([item(1, 1000)]), 4096)).toThrow(/1 chunks/);
    expect(() => decodeChunks(group([item(1, 1000), item(2, 5000)]), 4096)).toThrow(/exceeds 4096/);
    expect(() => decodeChunks(group([item(1, 0), item(2, 5)]), 4096)).toThrow(/empty chunk/);
    const max = 256 * 1024;
    expect(decodeChunks(group([1, 2, 3, 4].map((i) => item(i, max))), max).total).toBe(GROUP_MAX);
    expect(() => decodeChunks(group([1, 2, 3, 4, 5].map((i) => item(i, max))), max)).toThrow(/group exceeds/);
    expect(() => decodeChunks(encodeChunksHeader([item(1, 10), item(2, 10)]), 4096)).toThrow(/no data/);
  });

  it('hello: validates every field it will act on', () => {
    const good = { dsyncVersion: '1', role: 'receiver', path: '/x', options: { deleteExtra: false, dryRun: false, verify: false, checksum: false, destIsDir: false, params: { min: 16384, avg: 65536, max: 262144 }, compression: { kind: 'auto' }, filters: [], reportItems: true, waitLock: 0, timeout: 0, streams: 4, transport: 'tcp', bwlimit: 0, atomic: false, keep: 2, stagingMaxAge: 604800, stagingMaxSize: 1e11 } };
    expect(parseHello(good).role).toBe('receiver');
    const { body } = decodeHandshake(encodeHandshake(good), 'x');
    expect(parseHello(body).path).toBe('/x');
    expect(() => parseHello({ ...good, role: 'root' })).toThrow(/role/);
    expect(() => parseHello({ ...good, options: { ...good.options, params: { min: 1, avg: 3, max: 2 } } })).toThrow(DsyncError);
    expect(() => parseHello({ ...good, options: { ...good.options, compression: { kind: 'level', level: 99 } } })).toThrow(/compression/);
    expect(() => parseHello({ ...good, options: { ...good.options, streams: 17 } })).toThrow(/streams/);
    expect(() => parseHello({ ...good, options: { ...good.options, streams: 2.5 } })).toThrow(/streams/);
    expect(() => parseHello({ ...good, options: { ...good.options, transport: 'udp' } })).toThrow(/transport/);
    expect(() => parseHello({ ...good, options: { ...good.options, bwlimit: -1 } })).toThrow(/bwlimit/);
    expect(() => parseHello({ ...good, options: { ...good.options, atomic: 'yes' } })).toThrow(/atomic/);
    expect(() => parseHello({ ...good, options: { ...good.options, checksum: 1 } })).toThrow(/checksum/);
    expect(() => parseHello({ ...good, options: { ...good.options, keep: -1 } })).toThrow(/keep/);
    expect(() => parseHello({ ...good, options: { ...good.options, stagingMaxSize: Infinity } })).toThrow(/stagingMaxSize/);
  });

  it('data stream offer: only a well-formed target, token and key', () => {
    const offer = { target: { socket: '/tmp/dsync-x/s' }, token: 'ab'.repeat(32) };
    expect(parseOffer(undefined, 4)).toBeNull();
    expect(parseOffer(offer, 4)).toEqual(offer);
    expect(parseOffer({ target: { host: '127.0.0.1', port: 4000 }, token: 'ab'.repeat(32), key: '01'.repeat(32) }, 4)?.key).toBe('01'.repeat(32));
    expect(() => parseOffer(offer, 1)).toThrow(/offer/); // streams were not asked for
    expect(() => parseOffer({ ...offer, token: 'zz' }, 4)).toThrow(/offer/);
    expect(() => parseOffer({ ...offer, target: { host: 'evil.example', port: 4000 } }, 4)).toThrow(/offer/);
    expect(() => parseOffer({ ...offer, target: { host: '127.0.0.1', port: 70000 } }, 4)).toThrow(/offer/);
    expect(() => parseOffer({ ...offer, target: { socket: 'x'.repeat(200) } }, 4)).toThrow(/offer/);
  });
});
