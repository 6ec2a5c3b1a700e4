import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DsyncError } from '../errors/dsync-error.js';
import { ByteQueue } from '../util/byte-queue.js';

/**
 * The record layer of `--transport tcp`, sans-IO: plaintext in, sealed records out, and back.
 *   record := length:u32be ciphertext[length] tag[16]       (AAD: the length field)
 * AES-256-GCM with a fresh key per session (agreed over the SSH control channel). The 96-bit nonce
 * is direction:u8 | stream:u24 | counter:u64, so no nonce repeats within a session: each stream
 * and direction counts on its own. A record that was altered, replayed, reordered or moved to
 * another stream fails its tag (the opener expects the next counter); a stream cut inside a
 * record leaves bytes pending, which the owner reports as a truncated stream.
 */
export const CIPHER = 'aes-256-gcm';
export const KEY_LEN = 32;
export const TAG_LEN = 16;
export const MAX_RECORD = 256 * 1024;
const LEN = 4;

export type Direction = 0 | 1; // 0: client to agent, 1: agent to client

export function newSessionKey(): Buffer {
  return randomBytes(KEY_LEN);
}

function nonce(direction: Direction, stream: number, counter: bigint): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(((direction << 24) | stream) >>> 0, 0);
  n.writeBigUInt64BE(counter, 4);
  return n;
}

function checkSetup(key: Buffer, stream: number): void {
  if (key.length !== KEY_LEN) throw new RangeError('session key must be 32 bytes');
  if (!Number.isInteger(stream) || stream < 0 || stream >= 1 << 24) throw new RangeError(`bad stream index ${stream}`);
}

export class Sealer {
  private counter = 0n;

  constructor(
    private readonly key: Buffer,
    private readonly direction: Direction,
    private readonly stream: number,
  ) {
    checkSetup(key, stream);
  }

  /**
   * Seal `parts` (read as one run of bytes, e.g. a frame's header and payload written together) as
   * records of at most MAX_RECORD plaintext bytes, without joining them first.
   */
  seal(parts: Buffer[]): Buffer[] {
    const out: Buffer[] = [];
    const queue = new ByteQueue();
    for (const p of parts) queue.push(p);
    while (queue.length) {
      const len = Math.min(queue.length, MAX_RECORD);
      const head = Buffer.allocUnsafe(LEN);
      head.writeUInt32BE(len, 0);
      const c = createCipheriv(CIPHER, this.key, nonce(this.direction, this.stream, this.counter++), { authTagLength: TAG_LEN });
      c.setAAD(head);
      out.push(head);
      for (const piece of queue.takeParts(len)) out.push(c.update(piece));
      c.final();
      out.push(c.getAuthTag());
    }
    return out;
  }
}

export class Opener {
  private counter = 0n;
  private readonly bytes = new ByteQueue();

  constructor(
    private readonly key: Buffer,
    private readonly direction: Direction,
    private readonly stream: number,
    private readonly label = `data stream ${stream}`,
  ) {
    checkSetup(key, stream);
  }

  /** Bytes held that do not yet form a whole record. */
  get pending(): number {
    return this.bytes.length;
  }

  /** Take bytes off the wire; returns the plaintext of every whole record they complete. */
  push(bytes: Buffer): Buffer[] {
    this.bytes.push(bytes);
    const out: Buffer[] = [];
    while (this.bytes.length >= LEN) {
      const len = this.bytes.peek(LEN).readUInt32BE(0);
      if (len > MAX_RECORD) throw this.broken();
      if (this.bytes.length < LEN + len + TAG_LEN) break;
      const head = this.bytes.take(LEN);
      const body = this.bytes.takeParts(len);
      const tag = this.bytes.take(TAG_LEN);
      const d = createDecipheriv(CIPHER, this.key, nonce(this.direction, this.stream, this.counter++), { authTagLength: TAG_LEN });
      d.setAAD(head);
      d.setAuthTag(tag);
      const plain = body.map((piece) => d.update(piece));
      try {
        d.final();
      } catch {
        throw this.broken();
      }
      out.push(...plain.filter((p) => p.length));
    }
    return out;
  }

  private broken(): DsyncError {
    return new DsyncError('CONN_LOST', `${this.label} failed authentication (tampered, replayed or corrupted in transit); nothing from it was written`);
  }
}
