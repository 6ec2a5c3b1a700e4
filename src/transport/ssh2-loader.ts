import crypto from 'node:crypto';
import { createRequire } from 'node:module';

type RandomFill = typeof crypto.randomFillSync;

/** Random bytes drawn from the system's generator at once, for fills of up to a quarter of it. */
export const POOL = 64 * 1024;

/**
 * A randomFillSync that serves small fills of byte arrays from a pool of bytes drawn `POOL` at a
 * time from `fill`: the same generator's output, each byte handed out once. Anything else (other
 * views, whose offsets count elements, bad ranges: `fill` throws for them) goes to `fill`.
 */
export function pooledRandomFill(fill: RandomFill): RandomFill {
  const pool = new Uint8Array(POOL);
  let at = POOL;
  return ((buf: Uint8Array, offset = 0, size = buf.length - offset) => {
    const small = buf instanceof Uint8Array && Number.isSafeInteger(offset) && Number.isSafeInteger(size) && offset >= 0 && size >= 0 && offset + size <= buf.length && size <= POOL / 4;
    if (!small) return fill(buf, offset, size);
    if (at + size > POOL) {
      fill(pool);
      at = 0;
    }
    new Uint8Array(buf.buffer, buf.byteOffset + offset, size).set(pool.subarray(at, at + size));
    at += size;
    return buf;
  }) as RandomFill;
}

/**
 * Load the ssh2 library. It pads every SSH packet with its own randomFillSync call, one trip into
 * OpenSSL's generator (and its locks) for 4 to 19 bytes per 32 KiB packet: 0.4 s of the client's
 * 4.5 s of CPU when it pushed 1.1 GiB here. ssh2 takes the function from node:crypto as it loads,
 * so it loads with the pooled one in place; everything else keeps Node's, put back at once.
 */
export function loadSsh2(): typeof import('ssh2') {
  const original = crypto.randomFillSync;
  crypto.randomFillSync = pooledRandomFill(original);
  try {
    return createRequire(import.meta.url)('ssh2') as typeof import('ssh2');
  } finally {
    crypto.randomFillSync = original;
  }
}
