import { HASH_LEN } from '../chunker/chunk-list.js';
import { ENC, type ChunkHeader } from '../protocol/messages.js';
import { CompressionGovernor } from './adaptive.js';
import { applyDelta, makeDelta } from './delta.js';
import { zstd, zstdDecompress } from './zstd.js';


export type Compression = { kind: 'none' } | { kind: 'auto' } | { kind: 'level'; level: number };

/**
 * `--compress auto`'s levels: the first window of a transfer (a nightly update fits in it) is
 * about bytes, bulk data after it about speed. On text shards of 64 KiB chunks, level 2 goes 34%
 * faster than level 3 for 4% more bytes (302 against 226 MB/s, ratio 0.330 against 0.318).
 */
const AUTO_LEVEL = 3;
const BULK_LEVEL = 2;
/** Below this saving a compressed chunk is not worth the receiver's CPU: send it raw. */
const MIN_SAVING = 0.97;
/**
 * Delta ops under this share of the chunk are sent (compressed) without compressing the whole
 * chunk too: they hold the chunk's new bytes in order plus a few bytes per run of old blocks, so
 * they compress to less than the whole chunk would. Above it little matched, and the whole chunk
 * is compressed instead.
 */
const DELTA_WORTH = 0.9;

export class ChunkEncoder {
  private readonly cctx = new zstd.CCtx();
  private out = Buffer.allocUnsafe(0);
  private readonly governor: CompressionGovernor | null;

  constructor(
    private readonly mode: Compression,
    governor?: CompressionGovernor, // --compress auto's, given by tests
  ) {
    this.governor = mode.kind === 'auto' ? (governor ?? new CompressionGovernor()) : null;
  }

  /**
   * Encode one chunk; returns the encoding used and the bytes to send. With the signature of an
   * old chunk the receiver holds (`base`), a delta against it is sent when enough of the old
   * chunk is found in it (always tried: a delta saves far more than it costs).
   */
  encode(data: Buffer, base?: { hash: Buffer; sig: Buffer }): { encoding: number; payload: Buffer } {
    if (this.mode.kind === 'none' || data.length < 64) return { encoding: ENC.RAW, payload: data };
    if (base) {
      const ops = makeDelta(data, base.sig);
      if (ops.length < data.length * DELTA_WORTH) return { encoding: ENC.DELTA, payload: Buffer.concat([base.hash, this.compress(ops)]) };
    }
    const g = this.governor;
    if (g && !g.compressing && !g.sampleNow(data.length)) return { encoding: ENC.RAW, payload: data };
    const t = performance.now();
    const plain = this.compress(data);
    const ms = performance.now() - t;
    if (g?.compressing) g.compressed(data.length, ms);
    else g?.sampled(data.length, plain.length, ms);
    // Copied out of the kept buffer only when sent (it is queued for a stream).
    return plain.length < data.length * MIN_SAVING ? { encoding: ENC.ZSTD, payload: Buffer.from(plain) } : { encoding: ENC.RAW, payload: data };
  }

  /**
   * Whether adjacent chunks without a delta base go compressed as one (see GROUP_MAX): whenever
   * whole chunks are being compressed. While auto sends raw, each chunk is sampled on its own.
   */
  get grouping(): boolean {
    return this.mode.kind === 'level' || (this.governor?.compressing ?? false);
  }

  /**
   * Compress adjacent chunks as one; null if that does not save enough (each then goes raw).
   * The payload is a copy: it may wait in a stream's queue past the next call.
   */
  encodeGroup(data: Buffer): Buffer | null {
    const t = performance.now();
    const packed = this.compress(data);
    this.governor?.compressed(data.length, performance.now() - t);
    return packed.length < data.length * MIN_SAVING ? Buffer.from(packed) : null;
  }

  /** `bytes` of source data were handed to the streams as `wire` bytes (auto measures how fast they leave). */
  sent(bytes: number, wire: number): void {
    this.governor?.sent(bytes, wire);
  }

  /** `data` compressed, in a buffer kept from call to call: valid until the next call. */
  private compress(data: Buffer): Buffer {
    const level = this.mode.kind === 'level' ? this.mode.level : this.governor?.bulk ? BULK_LEVEL : AUTO_LEVEL;
    const bound = zstd.compressBound(data.length);
    if (this.out.length < bound) this.out = Buffer.allocUnsafe(bound);
    return this.out.subarray(0, this.cctx.compress(this.out, data, level));
  }
}

/**
 * Decodes received chunks. A compressed chunk or a delta is rebuilt in buffers kept from call to
 * call (a fresh one per chunk is external memory that V8 answers with full collections), so a
 * result holds only until the next decode.
 */
export class ChunkDecoder {
  private out = Buffer.allocUnsafe(0);
  private ops = Buffer.allocUnsafe(0);

  /** The kept buffer `which`, grown to at least `n` bytes. */
  private kept(which: 'out' | 'ops', n: number): Buffer {
    if (this[which].length < n) this[which] = Buffer.allocUnsafeSlow(n);
    return this[which];
  }

  /**
   * Decode a received chunk into exactly `rawLength` bytes; throws on anything else. A delta
   * needs its base from `readBase` (null if the receiver no longer has it).
   */
  decode(chunk: ChunkHeader & { data: Buffer }, readBase: (hash: Buffer) => Buffer | null): Buffer {
    if (chunk.encoding === ENC.RAW) return chunk.data;
    if (chunk.encoding === ENC.DELTA) {
      const base = readBase(chunk.data.subarray(0, HASH_LEN));
      if (!base) throw new Error('delta base is gone');
      // Ops hold at most the chunk's bytes plus a few bytes of framing per block.
      const max = chunk.rawLength * 2 + 4096;
      const ops = zstdDecompress(chunk.data.subarray(HASH_LEN), max, this.kept('ops', max));
      return applyDelta(base, ops, chunk.rawLength, this.kept('out', chunk.rawLength));
    }
    return this.inflate(chunk.data, chunk.rawLength);
  }

  /** A group's data (see GROUP_MAX), `total` bytes long exactly; throws on anything else. */
  decodeGroup(data: Buffer, total: number): Buffer {
    return this.inflate(data, total);
  }

  private inflate(data: Buffer, length: number): Buffer {
    const out = zstdDecompress(data, length, this.kept('out', length));
    if (out.length !== length) throw new Error('decompressed length mismatch');
    return out;
  }
}
