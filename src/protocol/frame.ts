import { LIMITS } from '../chunker/params.js';
import { DsyncError } from '../errors/dsync-error.js';

/**
 * Framing, sans-IO: bytes in, whole frames out, no sockets involved (so it is tested directly).
 *   frame := length:u32be type:u8 payload[length-1]
 * The length is bounded before anything is allocated, so a corrupted or hostile length field
 * cannot make the reader buffer gigabytes.
 */
export const MAX_FRAME = LIMITS.maxMax + 64 * 1024;
export const HEADER_LEN = 5;

export interface Frame {
  type: number;
  payload: Buffer;
}

export function frameHeader(type: number, payloadLen: number): Buffer {
  if (payloadLen + 1 > MAX_FRAME) throw new RangeError(`frame too large: ${payloadLen}`);
  const h = Buffer.allocUnsafe(HEADER_LEN);
  h.writeUInt32BE(payloadLen + 1, 0);
  h[4] = type;
  return h;
}

export function encodeFrame(type: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  return Buffer.concat([frameHeader(type, payload.length), payload]);
}

export class FrameDecoder {
  private parts: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrame = MAX_FRAME) {}

  /** Bytes held that do not yet form a whole frame. */
  get pending(): number {
    return this.buffered;
  }

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    if (chunk.length) {
      this.parts.push(chunk);
      this.buffered += chunk.length;
    }
    while (this.buffered >= 4) {
      const len = this.peekLength();
      if (len < 1 || len > this.maxFrame) {
        throw new DsyncError('PROTOCOL', `corrupt data stream: frame length ${len} out of range`);
      }
      if (this.buffered < 4 + len) break;
      const whole = this.take(4 + len);
      frames.push({ type: whole[4]!, payload: whole.subarray(HEADER_LEN) });
    }
    return frames;
  }

  private peekLength(): number {
    const first = this.parts[0]!;
    if (first.length >= 4) return first.readUInt32BE(0);
    return Buffer.concat(this.parts).readUInt32BE(0);
  }

  private take(n: number): Buffer {
    const first = this.parts[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.parts);
      out = all.subarray(0, n);
      this.parts = all.length > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}
