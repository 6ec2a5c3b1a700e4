/** A file's ordered chunks, packed: 32-byte SHA-256 digests back to back and their lengths. */
export const HASH_LEN = 32;

export class ChunkList {
  /** The file digest of this list, once known (see fileDigest in manifest/codec.ts). */
  digest: Buffer | undefined = undefined;

  constructor(
    readonly hashes: Buffer,
    readonly lengths: Uint32Array,
  ) {}

  static readonly EMPTY = new ChunkList(Buffer.alloc(0), new Uint32Array(0));

  get count(): number {
    return this.lengths.length;
  }

  hash(i: number): Buffer {
    return this.hashes.subarray(i * HASH_LEN, (i + 1) * HASH_LEN);
  }

  /** Map key for chunk i (the digest as a binary string). */
  key(i: number): string {
    return this.hashes.toString('latin1', i * HASH_LEN, (i + 1) * HASH_LEN);
  }

  totalSize(): number {
    let s = 0;
    for (const l of this.lengths) s += l;
    return s;
  }

  equals(o: ChunkList): boolean {
    return this.count === o.count && this.hashes.equals(o.hashes);
  }
}

export class ChunkListBuilder {
  private hashes = Buffer.allocUnsafe(HASH_LEN * 16);
  private lengths = new Uint32Array(16);
  private n = 0;

  push(hash: Uint8Array, length: number): void {
    if (this.n === this.lengths.length) {
      const h = Buffer.allocUnsafe(this.hashes.length * 2);
      this.hashes.copy(h);
      this.hashes = h;
      const l = new Uint32Array(this.lengths.length * 2);
      l.set(this.lengths);
      this.lengths = l;
    }
    this.hashes.set(hash, this.n * HASH_LEN);
    this.lengths[this.n++] = length;
  }

  finish(): ChunkList {
    if (this.n === 0) return ChunkList.EMPTY;
    return new ChunkList(Buffer.from(this.hashes.subarray(0, this.n * HASH_LEN)), this.lengths.slice(0, this.n));
  }
}
