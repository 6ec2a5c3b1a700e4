/**
 * Reusable buffers of one size, handed back once nothing refers to them any more. Node counts
 * every fresh large buffer as external memory, and V8 answers each ~64 MiB of it with a full
 * garbage collection: reading 1.1 GiB into fresh buffers cost the sender about 30 of them. And
 * memory the process has not touched before costs a page fault every 4 KiB, which in a virtual
 * machine can be dear: 12 us each on the benchmark machine (`dd bs=400M`: 102 000 faults, 1.3 s).
 */
export class SlabPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly size: number,
    private readonly keep: number, // free slabs held at most (the rest are left to the GC)
  ) {}

  /**
   * A slab and its release: call `hold()` once for every extra holder (a queued write of a slice)
   * and the returned `release` once per holder plus once for the caller; the slab comes back to
   * the pool when the last one is done.
   */
  take(): { buf: Buffer; hold: () => void; release: () => void } {
    const buf = this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
    let holders = 1;
    return {
      buf,
      hold: () => {
        holders++;
      },
      release: () => {
        if (--holders === 0 && this.free.length < this.keep) this.free.push(buf);
      },
    };
  }
}

/**
 * Slabs in power-of-two sizes, for buffers of varying length: a request gets the smallest size
 * that fits, so a slab is never more than twice what it carries. Requests under `min / 2` or over
 * `max` get none (a small buffer is cheap to allocate, a huge one rare). Each size keeps up to
 * `keepBytes` of free slabs.
 */
export class SlabClasses {
  private readonly pools = new Map<number, SlabPool>();

  constructor(
    private readonly min: number,
    private readonly max: number,
    private readonly keepBytes: number,
  ) {}

  take(length: number): ReturnType<SlabPool['take']> | null {
    if (length > this.max || length < this.min / 2) return null;
    let size = this.min;
    while (size < length) size *= 2;
    let pool = this.pools.get(size);
    if (!pool) this.pools.set(size, (pool = new SlabPool(size, Math.max(1, Math.floor(this.keepBytes / size)))));
    return pool.take();
  }
}

/**
 * Short-lived buffers cut one after another from pooled slabs, each handed back on its own
 * (`releaseOf`): a slab returns to its pool once every slice cut from it is released and the
 * arena has moved on. A slice that is never released (dropped on an error path) only keeps its
 * slab out of the pool; the GC reclaims it with the slice. Requests over a quarter of a slab get
 * a buffer of their own.
 */
export class SliceArena {
  private slab: ReturnType<SlabPool['take']> | null = null;
  private used = 0;
  private readonly releases = new WeakMap<ArrayBufferLike, () => void>();

  constructor(private readonly pool: SlabPool) {}

  take(length: number): Buffer {
    if (length > this.pool.size / 4) return Buffer.allocUnsafe(length);
    if (!this.slab || this.used + length > this.pool.size) {
      this.slab?.release(); // the arena's own hold on the slab it leaves
      this.slab = this.pool.take();
      this.used = 0;
      this.releases.set(this.slab.buf.buffer, this.slab.release);
    }
    this.slab.hold();
    this.used += length;
    return this.slab.buf.subarray(this.used - length, this.used);
  }

  /** How to hand back `b`, if it is a slice of this arena's (call it once). */
  releaseOf(b: Uint8Array): (() => void) | undefined {
    return this.releases.get(b.buffer);
  }
}
