/**
 * Bytes received in pieces, taken off the front in whole units (frames, records): the buffering
 * both sans-IO decoders need. Nothing is copied until a caller asks for contiguous bytes.
 */
export class ByteQueue {
  private parts: Buffer[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(bytes: Buffer): void {
    if (!bytes.length) return;
    this.parts.push(bytes);
    this.size += bytes.length;
  }

  /** The first `n` bytes, contiguous, left in the queue (n <= length). */
  peek(n: number): Buffer {
    if (this.parts[0]!.length < n) this.parts = [Buffer.concat(this.parts)];
    return this.parts[0]!.subarray(0, n);
  }

  /** Remove the first `n` bytes and return them as pieces, without copying (n <= length). */
  takeParts(n: number): Buffer[] {
    const out: Buffer[] = [];
    while (n > 0) {
      const first = this.parts[0]!;
      const piece = first.length <= n ? first : first.subarray(0, n);
      if (piece === first) this.parts.shift();
      else this.parts[0] = first.subarray(n);
      out.push(piece);
      n -= piece.length;
      this.size -= piece.length;
    }
    return out;
  }

  /** Whether the first `n` bytes lie in one piece, so that take(n) copies nothing. */
  isContiguous(n: number): boolean {
    return this.parts[0]!.length >= n;
  }

  /** Remove the first `n` bytes, copied into `dst` (n <= length, n <= dst.length). */
  takeInto(dst: Buffer, n: number): Buffer {
    let at = 0;
    for (const piece of this.takeParts(n)) at += piece.copy(dst, at);
    return dst.subarray(0, n);
  }

  /** Remove the first `n` bytes and return them contiguous (copied only if they span pieces). */
  take(n: number): Buffer {
    const parts = this.takeParts(n);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }
}
