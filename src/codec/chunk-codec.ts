import { createRequire } from 'node:module';
import type * as ZstdBinding from 'zstd-napi/binding.js';
import { ENC, type ChunkHeader } from '../protocol/messages.js';

const require = createRequire(import.meta.url);
// The low-level binding lets decompression write into a buffer of the size the manifest promised,
// so a hostile frame header cannot make the receiver allocate more than one chunk.
const zstd = require('zstd-napi/binding') as typeof ZstdBinding;

export type Compression = { kind: 'none' } | { kind: 'auto' } | { kind: 'level'; level: number };

const AUTO_LEVEL = 3;
/** Below this saving a compressed chunk is not worth the receiver's CPU: send it raw. */
const MIN_SAVING = 0.97;

export class ChunkEncoder {
  private readonly cctx = new zstd.CCtx();
  private out = Buffer.allocUnsafe(0);

  constructor(private readonly mode: Compression) {}

  /** Encode one chunk; returns the encoding used and the bytes to send. */
  encode(data: Buffer): { encoding: number; payload: Buffer } {
    if (this.mode.kind === 'none' || data.length < 64) return { encoding: ENC.RAW, payload: data };
    const level = this.mode.kind === 'level' ? this.mode.level : AUTO_LEVEL;
    const bound = zstd.compressBound(data.length);
    if (this.out.length < bound) this.out = Buffer.allocUnsafe(bound);
    const n = this.cctx.compress(this.out, data, level);
    if (n >= data.length * MIN_SAVING) return { encoding: ENC.RAW, payload: data };
    return { encoding: ENC.ZSTD, payload: Buffer.from(this.out.subarray(0, n)) };
  }
}

const dctx = new zstd.DCtx();

/** Decode a received chunk into exactly `rawLength` bytes; throws on anything else. */
export function decodeChunkPayload(chunk: ChunkHeader & { data: Buffer }): Buffer {
  if (chunk.encoding === ENC.RAW) return chunk.data;
  const out = Buffer.allocUnsafe(chunk.rawLength);
  const n = dctx.decompress(out, chunk.data);
  if (n !== chunk.rawLength) throw new Error('decompressed length mismatch');
  return out;
}
