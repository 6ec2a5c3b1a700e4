import { createRequire } from 'node:module';
import type * as ZstdBinding from 'zstd-napi/binding.js';

const require = createRequire(import.meta.url);
// The low-level binding lets decompression write into a buffer of the size the sender announced
// (and the receiver bounded), so a hostile frame header cannot make it allocate more.
export const zstd = require('zstd-napi/binding') as typeof ZstdBinding;

const cctx = new zstd.CCtx();
const dctx = new zstd.DCtx();

export function zstdCompress(data: Buffer, level = 3): Buffer {
  const out = Buffer.allocUnsafe(zstd.compressBound(data.length));
  return out.subarray(0, cctx.compress(out, data, level));
}

/** Decompress into at most `max` bytes (into `into` if given); throws if the data would need more. */
export function zstdDecompress(data: Buffer, max: number, into?: Buffer): Buffer {
  const out = into ? into.subarray(0, max) : Buffer.allocUnsafe(max);
  return out.subarray(0, dctx.decompress(out, data));
}
