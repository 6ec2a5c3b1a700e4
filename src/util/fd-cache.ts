import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

interface Slot {
  fh: Promise<FileHandle>;
  users: number;
}

/**
 * A bounded set of open file handles, least recently used closed first. `use` pins a handle for the
 * duration of one operation, so concurrent tasks never see a handle closed under them.
 */
export class FdCache {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly flags: number | string,
    private readonly max = 64,
  ) {}

  async use<T>(file: string, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
    let slot = this.slots.get(file);
    if (slot) {
      this.slots.delete(file); // re-insert: most recently used last
    } else {
      slot = { fh: fsp.open(file, this.flags), users: 0 };
      slot.fh.catch(() => this.slots.delete(file));
    }
    this.slots.set(file, slot);
    slot.users++;
    try {
      return await fn(await slot.fh);
    } finally {
      slot.users--;
      await this.evict();
    }
  }

  private async evict(): Promise<void> {
    if (this.slots.size <= this.max) return;
    for (const [file, slot] of this.slots) {
      if (this.slots.size <= this.max) break;
      if (slot.users === 0) {
        this.slots.delete(file);
        await (await slot.fh).close();
      }
    }
  }

  /** Close the handle of `file` (e.g. before renaming it), flushing it to disk first if asked. */
  async close(file: string, sync = false): Promise<void> {
    const slot = this.slots.get(file);
    if (!slot) return;
    this.slots.delete(file);
    const fh = await slot.fh;
    try {
      if (sync) await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.slots.values()];
    this.slots.clear();
    await Promise.allSettled(all.map(async (s) => (await s.fh).close()));
  }
}
