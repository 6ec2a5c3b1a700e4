import type { Entry } from '../manifest/entry.js';

/** Marks a chunk this run wrote itself, as the receiver took it (see its take()): not checked again. */
export const WRITTEN_HERE = 'written here';

export interface ChunkLocation {
  file: string; // absolute path of a file holding the chunk
  offset: number;
  length: number;
  /**
   * Why the bytes there can be trusted without hashing them again: the scanned file (valid while
   * it keeps the stat identity it had then), or WRITTEN_HERE. Without one (chunks an interrupted
   * run journaled) every read is checked against the hash.
   */
  trust?: Entry | typeof WRITTEN_HERE;
}

/**
 * Where the receiver can find each chunk it already has: in any destination file (so renamed,
 * moved or duplicated files cost no new data) and in files staged earlier in this run. Files are
 * indexed at the first lookup: a run in which no file changed (every night's first check) never
 * pays for indexing the destination's ~35 bytes a chunk.
 */
export class ChunkIndex {
  private readonly map = new Map<string, ChunkLocation>();
  private unindexed: { abs: string; e: Entry }[] = [];

  addFile(abs: string, e: Entry): void {
    if (e.chunks) this.unindexed.push({ abs, e });
  }

  /** Index what was added; the first file holding a chunk is where it is read from. */
  private catchUp(): void {
    for (const { abs, e } of this.unindexed) {
      const c = e.chunks!;
      const trust = e.stat ? e : undefined;
      let offset = 0;
      for (let i = 0; i < c.count; i++) {
        const length = c.lengths[i]!;
        const key = c.key(i);
        if (!this.map.has(key)) this.map.set(key, { file: abs, offset, length, trust });
        offset += length;
      }
    }
    this.unindexed = [];
  }

  set(key: string, loc: ChunkLocation): void {
    if (this.unindexed.length) this.catchUp();
    this.map.set(key, loc);
  }

  get(key: string): ChunkLocation | undefined {
    if (this.unindexed.length) this.catchUp();
    return this.map.get(key);
  }

  delete(key: string): void {
    if (this.unindexed.length) this.catchUp();
    this.map.delete(key);
  }
}
