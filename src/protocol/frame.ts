import { LIMITS } from '../chunker/params.js';
import { DsyncError } from '../errors/dsync-error.js';
import { ByteQueue } from '../util/byte-queue.js';

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
  /** Set when the payload lies in a pooled slab: call once the payload is no longer used. */
  release?: () => void;
}

/**
 * Frames of the `types` that arrive in pieces are put together in the slab that `take` gives for
 * their length, if it gives one (see push).
 */
export interface PooledFrames {
  types: readonly number[];
  take(length: number): { buf: Buffer; release: () => void } | null;
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
  private readonly bytes = new ByteQueue();

  constructor(
    private readonly maxFrame = MAX_FRAME,
    private readonly pooled?: PooledFrames,
  ) {}

  /** Bytes held that do not yet form a whole frame. */
  get pending(): number {
    return this.bytes.length;
  }

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    this.bytes.push(chunk);
    while (this.bytes.length >= 4) {
      const len = this.bytes.peek(4).readUInt32BE(0);
      if (len < 1 || len > this.maxFrame) {
        throw new DsyncError('PROTOCOL', `corrupt data stream: frame length ${len} out of range`);
      }
      if (this.bytes.length < 4 + len) break;
      // A frame that spans reads must be copied to be contiguous. For bulk data (most frames:
      // a chunk is about one read long) the copy goes into a reused slab, not a fresh buffer:
      // V8 answers every ~64 MiB of fresh buffers with a full garbage collection.
      const slab = this.pooled && !this.bytes.isContiguous(4 + len) && this.pooled.types.includes(this.bytes.peek(HEADER_LEN)[4]!) ? this.pooled.take(4 + len) : null;
      if (slab) {
        const whole = this.bytes.takeInto(slab.buf, 4 + len);
        frames.push({ type: whole[4]!, payload: whole.subarray(HEADER_LEN), release: slab.release });
        continue;
      }
      const whole = this.bytes.take(4 + len);
      frames.push({ type: whole[4]!, payload: whole.subarray(HEADER_LEN) });
    }
    return frames;
  }
}
