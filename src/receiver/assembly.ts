import { constants, fchmodSync, futimesSync, promises as fsp } from 'node:fs';
import { sha256 } from '../chunker/chunk-file.js';
import type { RunStats } from '../engine/events.js';
import { nsToSeconds, type Entry } from '../manifest/entry.js';
import { FdCache, preadFull, pwriteFull } from '../util/fd-cache.js';
import { Limiter } from '../util/limiter.js';
import type { ChunkIndex } from './chunk-index.js';
import type { Journal } from './journal.js';

const CREATE_CONCURRENCY = 16;

/** A chunk of a staged file that must come from the sender: its key, size and place. */
export interface WantedChunk {
  key: string;
  length: number;
  offset: number;
  index: number; // position in the file's chunk list
}

export interface StagedFile {
  entry: Entry;
  staged: string;
  remaining: number; // chunk slots not yet written
  state: 'filling' | 'ready' | 'failed';
  created: Promise<void>; // creating a file is slow on many filesystems: it happens in the background
}

interface Slot {
  file: StagedFile;
  offset: number;
}

/**
 * Builds changed files in the staging area from chunks the receiver already has (copied and
 * re-verified) and chunks that arrive from the sender (verified by the caller), in any order:
 * each chunk is written at its offset, and a file whose every slot is filled gets its mode and
 * mtime and is marked ready. Making the data durable is left to one flush before publishing.
 */
export class Assembly {
  private readonly pending = new Map<string, Slot[]>();
  private readonly reads = new FdCache(constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK, 32);
  private readonly writes = new FdCache(constants.O_WRONLY, 64);
  private readonly creating = new Limiter(CREATE_CONCURRENCY);

  /** Set once staging exists: every chunk written is journaled for a run after an interruption. */
  journal: Journal | null = null;

  constructor(
    private readonly index: ChunkIndex,
    private readonly stats: RunStats,
  ) {}

  /** Stage `entry` at `staged`; returns the chunks that must come from the sender. */
  async addFile(entry: Entry, staged: string): Promise<{ file: StagedFile; want: WantedChunk[] }> {
    const created = this.creating.run(async () => {
      // A new file needs no sizing: its chunks fill it to the end. One an interrupted run staged
      // under this name keeps what it already holds (no O_TRUNC), cut to the size it must have.
      try {
        await (await fsp.open(staged, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)).close();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        await fsp.truncate(staged, entry.size);
      }
    });
    created.catch(() => {}); // awaited where the file is first written
    const file: StagedFile = { entry, staged, remaining: entry.chunks!.count, state: 'filling', created };
    const want: WantedChunk[] = [];
    const c = entry.chunks!;
    this.stats.chunksTotal += c.count;
    let offset = 0;
    for (let i = 0; i < c.count; i++) {
      const key = c.key(i);
      const length = c.lengths[i]!;
      const slot = { file, offset };
      const at = offset;
      offset += length;
      const waiting = this.pending.get(key);
      if (waiting) {
        waiting.push(slot);
      } else if (await this.copyLocal(key, slot, length)) {
        this.stats.chunksLocal++;
        this.stats.bytesLocal += length;
      } else {
        this.pending.set(key, [slot]);
        want.push({ key, length, offset: at, index: i });
      }
    }
    if (file.remaining === 0 && file.state === 'filling') await this.finish(file);
    return { file, want };
  }

  /** A chunk the receiver already holds, read and re-verified; null if it is gone or changed. */
  readLocal(key: string): Buffer | null {
    const loc = this.index.get(key);
    if (!loc) return null;
    const buf = Buffer.allocUnsafe(loc.length);
    try {
      if (preadFull(this.reads.get(loc.file), buf, loc.length, loc.offset) !== loc.length || sha256(buf).toString('latin1') !== key) throw new Error('stale');
    } catch {
      this.index.delete(key); // the file changed or went away since it was indexed
      return null;
    }
    return buf;
  }

  /** Copy a chunk the receiver already holds; false if it is not there or no longer matches. */
  private async copyLocal(key: string, slot: Slot, length: number): Promise<boolean> {
    const loc = this.index.get(key);
    if (loc?.length !== length) return false;
    await slot.file.created;
    const buf = this.readLocal(key);
    if (!buf) return false;
    if (loc.file === slot.file.staged && loc.offset === slot.offset) {
      await this.filled(slot.file); // staged here by an interrupted run, and still intact
      return true;
    }
    await this.write(slot, buf, key);
    return true;
  }

  /** Data for a wanted chunk, already verified against its hash. */
  async deliver(key: string, data: Buffer): Promise<void> {
    const slots = this.pending.get(key);
    if (!slots) return;
    this.pending.delete(key);
    let indexed = false;
    for (const slot of slots) {
      if (slot.file.state !== 'filling') continue;
      await this.write(slot, data, key);
      if (!indexed) {
        // Later files needing this chunk copy it from here instead of asking again.
        this.index.set(key, { file: slot.file.staged, offset: slot.offset, length: data.length });
        indexed = true;
      }
    }
  }

  /** A wanted chunk will not come: every file needing it keeps its old version. */
  async fail(key: string): Promise<StagedFile[]> {
    const slots = this.pending.get(key) ?? [];
    this.pending.delete(key);
    const failed: StagedFile[] = [];
    for (const { file } of slots) {
      if (file.state === 'failed') continue;
      file.state = 'failed';
      failed.push(file);
      this.writes.close(file.staged);
      this.reads.close(file.staged);
      await fsp.rm(file.staged, { force: true });
    }
    return failed;
  }

  get outstanding(): number {
    return this.pending.size;
  }

  isPending(key: string): boolean {
    return this.pending.has(key);
  }

  private async write(slot: Slot, data: Buffer, key: string): Promise<void> {
    const { file } = slot;
    await file.created;
    if (file.state !== 'filling') return;
    pwriteFull(this.writes.get(file.staged), data, slot.offset);
    this.journal?.record(key, file.staged, slot.offset, data.length);
    await this.filled(file);
  }

  private async filled(file: StagedFile): Promise<void> {
    file.remaining--;
    if (file.remaining === 0) await this.finish(file);
  }

  private async finish(file: StagedFile): Promise<void> {
    await file.created;
    const fd = this.writes.get(file.staged);
    fchmodSync(fd, file.entry.mode);
    const t = nsToSeconds(file.entry.mtimeNs);
    futimesSync(fd, t, t);
    this.writes.close(file.staged);
    file.state = 'ready';
  }

  close(): void {
    this.reads.closeAll();
    this.writes.closeAll();
    this.journal?.close();
    this.journal = null;
  }
}
