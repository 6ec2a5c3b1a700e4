import type { Entry } from '../manifest/entry.js';

export interface ChunkLocation {
  file: string; // absolute path of a file holding the chunk
  offset: number;
  length: number;
}

/**
 * Where the receiver can find each chunk it already has: in any destination file (so renamed,
 * moved or duplicated files cost no new data) and in files staged earlier in this run.
 */
export class ChunkIndex {
  private readonly map = new Map<string, ChunkLocation>();

  addFile(abs: string, e: Entry): void {
    const c = e.chunks;
    if (!c) return;
    let offset = 0;
    for (let i = 0; i < c.count; i++) {
      const length = c.lengths[i]!;
      const key = c.key(i);
      if (!this.map.has(key)) this.map.set(key, { file: abs, offset, length });
      offset += length;
    }
  }

  set(key: string, loc: ChunkLocation): void {
    this.map.set(key, loc);
  }

  get(key: string): ChunkLocation | undefined {
    return this.map.get(key);
  }

  delete(key: string): void {
    this.map.delete(key);
  }
}
