import { DsyncError } from '../errors/dsync-error.js';

/** Append-only byte builder for the binary encodings (manifests, wire messages). */
export class Writer {
  private buf: Buffer;
  private len = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  get length(): number {
    return this.len;
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.len++] = v;
    return this;
  }

  /** Unsigned LEB128, exact for integers up to 2^53. */
  uvar(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`uvar out of range: ${v}`);
    this.reserve(8);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
    return this;
  }

  /** Signed integer as zigzag LEB128. */
  svar(v: number): this {
    return this.uvar(v < 0 ? -2 * v - 1 : 2 * v);
  }

  raw(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  bytes(b: Uint8Array): this {
    return this.uvar(b.length).raw(b);
  }

  str(s: string): this {
    return this.bytes(Buffer.from(s, 'utf8'));
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/**
 * Bounds-checked reader over bytes that may come from the other side: every read checks the
 * remaining length and every count is bounded by the caller, so malformed input raises a
 * PROTOCOL error instead of a crash or an oversized allocation.
 */
export class Reader {
  pos = 0;

  constructor(
    readonly buf: Buffer,
    private readonly what: string,
  ) {}

  fail(msg: string): never {
    throw new DsyncError('PROTOCOL', `malformed ${this.what}: ${msg} at byte ${this.pos}`);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  need(n: number): void {
    if (n > this.remaining) this.fail('truncated');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  uvar(max = Number.MAX_SAFE_INTEGER): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (v > max) this.fail(`value ${v} exceeds ${max}`);
        return v;
      }
      mul *= 0x80;
    }
    return this.fail('varint too long');
  }

  svar(): number {
    const z = this.uvar();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  raw(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  bytes(max: number): Buffer {
    return this.raw(this.uvar(max));
  }

  str(max: number): string {
    const b = this.bytes(max);
    const s = b.toString('utf8');
    // Round-trip check rejects invalid UTF-8 instead of silently mangling it.
    if (Buffer.byteLength(s, 'utf8') !== b.length || s.includes('\uFFFD')) {
      if (!Buffer.from(s, 'utf8').equals(b)) this.fail('invalid UTF-8 string');
    }
    return s;
  }

  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} unexpected trailing bytes`);
  }
}
