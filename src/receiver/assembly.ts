import { constants, fchmodSync, fstatSync, futimesSync, linkSync, lstatSync, open, promises as fsp, rmSync, type BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { sha256 } from '../chunker/chunk-file.js';
import type { RunStats } from '../engine/events.js';
import { entryIdentity, nsToSeconds, statIdentity, type Entry } from '../manifest/entry.js';
import { ALIGN, AlignedPool, copyFileDirect, openDirect, pwriteDirect } from '../util/direct-io.js';
import { FdCache, preadFull, preadInPool, pwriteFull, pwriteInPool } from '../util/fd-cache.js';
import { Limiter } from '../util/limiter.js';
import { WRITTEN_HERE, type ChunkIndex, type ChunkLocation } from './chunk-index.js';
import type { EarlyFlush } from '../util/durable.js';
import type { Journal } from './journal.js';

const CREATE_CONCURRENCY = 16;
/**
 * Files created ahead of their data, at most. Fewer than the write descriptors kept open
 * (`writes`): the descriptor that created a file is the one that writes it, instead of being
 * closed to make room for the next file created ahead and opened again (an initial copy queued
 * all 6000 creations at once and opened 6000 files twice, on the receiver's busiest thread).
 * A file whose data comes before its turn is created at once (see creation()).
 */
export const CREATE_AHEAD = 192;
const WRITE_FDS = 256;
/** Old versions copied at once ahead of their chunk lists (see copyOldEarly). */
const EARLY_COPIES = 4;
const openFd = promisify(open);
/** Blocks primed between turns of the event loop (see primeEdges). */
const PRIME_TURN = 2048;

/** A copy of an old version begun ahead of its chunk list (see Assembly.copyOldEarly). */
export interface EarlyCopy {
  /** True once the copy is made and the old version did not change meanwhile. */
  done: Promise<boolean>;
  /** The stat identity of the old version it copies (see statIdentity). */
  identity: string;
  /** Call the copy off if it has not begun (done then gives false, with nothing made). */
  cancel(): void;
}

/** A chunk of a staged file: its key, size and place. */
export interface FileChunk {
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
  /** Creating a file is slow on many filesystems: it happens in the background (see creation()). Null until begun. */
  created: Promise<void> | null;
  create: (() => Promise<void>) | null; // how, until begun
  /** Chunks (by index) its creation copied into place from the old version in one go (see addFile). */
  inPlace: Set<number> | null;
}

interface Slot {
  file: StagedFile;
  offset: number;
}

/** Local bytes from which a staged file's copy counts as large (see addFile, receiver's copyLater). */
export const LARGE_COPY = 1024 * 1024;
/** Adjacent chunks copied from one local file with one read and one write. */
const COPY_RUN = 4 * 1024 * 1024;
/**
 * Runs at least this large are copied in the thread pool, beside the main thread's work
 * (receiving, verifying, planning): a changed 100 MB shard is mostly old data to copy, which
 * took the receiver's one thread ~0.25 s per 235 MB here. Smaller runs stay synchronous, where a
 * thread-pool round trip would cost more than the copy.
 */
const ASYNC_COPY = 1024 * 1024;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Builds changed files in the staging area from chunks the receiver already has and chunks that
 * arrive from the sender (verified by the caller), in any order: each chunk is written at its
 * offset, and a file whose every slot is filled gets its mode and mtime and is marked ready.
 * Making the data durable is left to one flush before publishing.
 */
export class Assembly {
  private readonly pending = new Map<string, Slot[]>();
  private readonly reads = new FdCache(READ_FLAGS, 32);
  private readonly writes = new FdCache(constants.O_WRONLY, WRITE_FDS);
  private readonly creating = new Limiter(CREATE_CONCURRENCY);
  private readonly toCreate: StagedFile[] = []; // in the order their data is wanted
  private nextToCreate = 0;
  private ahead = 0; // files being created or filled (see CREATE_AHEAD)
  private copyBuf: Buffer | null = null; // small copies are synchronous from read to write: one buffer serves all
  private readonly held: FileHandle[] = []; // old versions copied whole (see copyWhole)
  private readonly earlyCopies = new Limiter(EARLY_COPIES);

  /** Makes the staging area (once), before the first file is created in it. */
  prepare: (() => Promise<void>) | null = null;
  /** Set once staging exists: every chunk written is journaled for a run after an interruption. */
  journal: Journal | null = null;
  /** Set once staging exists: writes are flushed to disk in the background as they accumulate. */
  flush: EarlyFlush | null = null;

  constructor(
    private readonly index: ChunkIndex,
    private readonly stats: RunStats,
  ) {}

  /**
   * Stage `entry` at `staged`. Returns the chunks that must come from the sender and those the
   * receiver holds, to be copied with copyLocal once the wants are on their way. `early`: the copy
   * of the old version `old` that copyOldEarly began at `staged`.
   */
  addFile(entry: Entry, staged: string, old?: string, early?: EarlyCopy): { file: StagedFile; want: FileChunk[]; local: FileChunk[]; localBytes: number } {
    const file: StagedFile = { entry, staged, remaining: entry.chunks!.count, state: 'filling', created: null, create: null, inPlace: null };
    const want: FileChunk[] = [];
    const local: FileChunk[] = [];
    let localBytes = 0;
    const inPlace = new Set<number>();
    let inPlaceBytes = 0;
    let oldEntry: Entry | undefined;
    const c = entry.chunks!;
    this.stats.chunksTotal += c.count;
    let offset = 0;
    for (let index = 0; index < c.count; index++) {
      const chunk = { key: c.key(index), length: c.lengths[index]!, offset, index };
      offset += chunk.length;
      const waiting = this.pending.get(chunk.key);
      const loc = waiting ? undefined : this.index.get(chunk.key);
      if (waiting) waiting.push({ file, offset: chunk.offset });
      else if (loc?.length === chunk.length) {
        local.push(chunk);
        localBytes += chunk.length;
        // At the same place in the trusted old version of this very file.
        if (old && loc.file === old && loc.offset === chunk.offset && loc.trust && loc.trust !== WRITTEN_HERE) {
          inPlace.add(index);
          inPlaceBytes += chunk.length;
          oldEntry = loc.trust;
        }
      } else if (this.await(chunk.key, { file, offset: chunk.offset })) want.push(chunk);
    }
    // Most of it unchanged where it was (appended records, rows rewritten in place): the old
    // version is copied whole, past the page cache on a thread of its own (util/direct-io.ts),
    // and only the rest is written over it. A copy begun before the list came (copyOldEarly)
    // serves every chunk it left in place, however few; one still waiting for its turn is called
    // off when too little stayed in place (records inserted at the start of the file).
    const worthCopying = inPlaceBytes >= LARGE_COPY && inPlaceBytes * 2 >= entry.size;
    if (early && !worthCopying) early.cancel();
    const prefill = early
      ? { copy: () => early.done, identity: early.identity }
      : oldEntry && worthCopying
        ? { copy: () => this.copyWhole(old!, entryIdentity(oldEntry!), staged), identity: entryIdentity(oldEntry!) }
        : null;
    file.create = async () => {
      await this.prepare?.();
      const copied = prefill ? await prefill.copy() : false;
      // A new file needs no sizing: its chunks fill it to the end. One an interrupted run staged
      // under this name, or the copy of an old version just made, keeps what it already holds
      // (no O_TRUNC), cut to the size it must have.
      // The descriptor that created it writes it too: one open a file, not two.
      const create = async () => this.writes.adopt(staged, await openFd(staged, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
      try {
        await create();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // Another name of a destination file (an interrupted run's linkWhole) is never written through.
        if ((await fsp.lstat(staged)).nlink > 1) {
          await fsp.unlink(staged);
          await create();
        } else {
          await fsp.truncate(staged, entry.size);
        }
      }
      if (copied && (await this.primeEdges(file, old!, prefill!.identity, inPlace))) file.inPlace = inPlace;
    };
    // A file with much to copy from local data (a changed shard) is created at once, ahead of
    // the small new files queued before it: its copy is the longest work of the run.
    if (localBytes >= LARGE_COPY) this.beginCreate(file, true);
    else {
      this.toCreate.push(file);
      this.createAhead();
    }
    return { file, want, local, localBytes };
  }

  /**
   * Begin copying `from`, the old version of a changed file, to `staged` while its chunk list is
   * still on its way (addFile then takes the copy over): in an update this copy is the longest
   * work, and begun here it overlaps the list's round trip and the planning of the other files.
   * Only a large file whose old version the scan vouched for (`identity`) is worth it. For one
   * whose data all moved (records inserted at its start) the copy is not used: a file rewritten
   * through costs one local copy of its old version for nothing (datasets mostly grow and change
   * in place).
   */
  copyOldEarly(staged: string, from: string, identity: string): EarlyCopy {
    const calledOff = new AbortController();
    const done = this.earlyCopies.run(async () => {
      if (calledOff.signal.aborted) return false;
      await this.prepare?.();
      return this.copyWhole(from, identity, staged, calledOff.signal);
    }, true);
    done.catch(() => {}); // a failure to make staging surfaces where the file is created
    return { done, identity, cancel: () => calledOff.abort() };
  }

  /**
   * Stage `entry` as another name of `from`, a destination file with the same content, mode and
   * mtime that this run deletes (a file moved at the source): no inode to allocate, no byte to
   * copy. Null, with nothing left behind, if `from` has other names (the move must not make two
   * paths share one file), is not ours, is no longer what its scan saw, or cannot be linked
   * (staging on another filesystem): the caller then copies it like any other file.
   * Synchronous once staging exists: three metadata calls take microseconds, and in the thread
   * pool they would queue behind the creation of new files.
   */
  async linkWhole(entry: Entry, staged: string, from: string, identity: string): Promise<StagedFile | null> {
    await this.prepare?.();
    let before: BigIntStats;
    try {
      before = lstatSync(from, { bigint: true });
      if (before.nlink !== 1n || before.uid !== BigInt(process.getuid?.() ?? before.uid) || statIdentity(before) !== identity) return null;
      linkSync(from, staged);
    } catch {
      return null;
    }
    // The link moved its ctime; a write between the check and the link would have moved mtime.
    const after = lstatSync(staged, { bigint: true, throwIfNoEntry: false });
    if (!after || after.ino !== before.ino || after.nlink !== 2n || after.size !== before.size || after.mtimeNs !== before.mtimeNs) {
      rmSync(staged, { force: true });
      return null;
    }
    const c = entry.chunks!;
    this.stats.chunksTotal += c.count;
    this.stats.chunksLocal += c.count;
    this.stats.bytesLocal += entry.size;
    return { entry, staged, remaining: 0, state: 'ready', created: Promise.resolve(), create: null, inPlace: null };
  }

  /**
   * Copy all of `from` to a new file `to`, true if `from` kept the stat identity it was scanned
   * with from before the copy to after it (a rename in between moves its ctime). False, with
   * nothing made, if it had changed already or `to` exists (what an interrupted run staged there
   * is kept); false with `to` made if it changed during the copy: its chunks are then all
   * written again like any others.
   */
  private async copyWhole(from: string, identity: string, to: string, signal?: AbortSignal): Promise<boolean> {
    const same = async () => statIdentity(await fsp.lstat(from, { bigint: true })) === identity;
    try {
      if (!(await same())) return false;
      if (!(await copyFileDirect(from, to, signal))) return false;
      // Held open to the end, like the files read chunk by chunk (see releaseOldFiles).
      this.held.push(await fsp.open(from, READ_FLAGS));
    } catch {
      return false;
    }
    return same().catch(() => false);
  }

  /**
   * After a copy of the old version `old` written past the page cache, the blocks that the writes
   * still to come cover only in part (the ends of the chunks not in place) are written whole from
   * `old`, which the copy has just read into the page cache. Otherwise each such write reads its
   * partial blocks from the disk first, synchronously: 1.4 ms a chunk here, 60-80 ms of the
   * next-day update's main thread. False, and the copy is not relied on, if `old` is no longer the
   * version copied (its data would not be what the copy holds) or cannot be read. The event loop
   * gets a turn every PRIME_TURN blocks (a large file may have tens of thousands).
   */
  private async primeEdges(file: StagedFile, old: string, identity: string, inPlace: Set<number>): Promise<boolean> {
    const c = file.entry.chunks!;
    const blocks = new Set<number>();
    let offset = 0;
    for (let i = 0; i < c.count; i++) {
      const end = offset + c.lengths[i]!;
      if (!inPlace.has(i)) {
        if (offset % ALIGN) blocks.add(Math.floor(offset / ALIGN));
        if (end % ALIGN) blocks.add(Math.floor(end / ALIGN));
      }
      offset = end;
    }
    try {
      const block = Buffer.allocUnsafe(ALIGN);
      let done = 0;
      for (const b of blocks) {
        // Descriptors are asked for each time: one may have been closed for another meanwhile.
        if (++done % PRIME_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
        const at = b * ALIGN;
        // Not past the end of either version: the staged file must keep its size.
        if (at + ALIGN <= file.entry.size && preadFull(this.reads.get(old), block, ALIGN, at) === ALIGN) pwriteFull(this.writes.get(file.staged), block, at);
      }
      return statIdentity(lstatSync(old, { bigint: true })) === identity;
    } catch {
      return false;
    }
  }

  /** Wait for a chunk from the sender; true if it is not asked for yet. */
  private await(key: string, slot: Slot): boolean {
    const waiting = this.pending.get(key);
    if (waiting) {
      waiting.push(slot);
      return false;
    }
    this.pending.set(key, [slot]);
    return true;
  }

  /**
   * Copy chunks the receiver holds into `file`; returns those that turned out to be gone or
   * changed, which now wait for the sender like any other wanted chunk. Several files may be
   * copied at once (see the receiver's copyLater), each with descriptors and a buffer of its own.
   */
  async copyLocal(file: StagedFile, chunks: FileChunk[]): Promise<FileChunk[]> {
    const missing: FileChunk[] = [];
    if (file.state === 'filling' && chunks.length) await this.creation(file);
    if (file.inPlace && file.state === 'filling') {
      const placed = chunks.filter((c) => file.inPlace!.has(c.index));
      chunks = chunks.filter((c) => !file.inPlace!.has(c.index));
      this.wrote(file, placed, placed.reduce((n, c) => n + c.length, 0));
      for (const c of placed) await this.copied(file, c);
    }
    const copy = new PoolCopy(file.staged);
    try {
      for (let i = 0; i < chunks.length; ) {
        if (file.state !== 'filling') break; // a chunk it needs will not come: no use filling the rest
        // One run at a time, then arriving chunks get their turn: copying a large file must not
        // hold up the data streams (a run is a few milliseconds of page-cache copying).
        if (i > 0) await new Promise((resolve) => setImmediate(resolve));
        const run = this.runFrom(chunks, i);
        i += run.length;
        const trusted = await this.copyTrusted(file, run, copy);
        if (file.state !== 'filling') break; // failed while the copy was in the thread pool
        if (trusted) {
          for (const c of run) await this.copied(file, c);
          continue;
        }
        for (const c of run) {
          const buf = this.readLocal(c.key);
          if (!buf) {
            if (this.await(c.key, { file, offset: c.offset })) missing.push(c);
            continue;
          }
          const loc = this.index.get(c.key)!;
          // Staged here by an interrupted run, and still intact: nothing to write.
          if (loc.file !== file.staged || loc.offset !== c.offset) this.put(file, c.offset, buf, [c]);
          await this.copied(file, c);
        }
      }
    } finally {
      await copy.close();
    }
    if (file.remaining === 0 && file.state === 'filling') await this.finish(file); // an empty file
    return missing;
  }

  /** The chunks from `start` on that lie back to back both here and in one local file. */
  private runFrom(chunks: FileChunk[], start: number): FileChunk[] {
    const first = chunks[start]!;
    const loc = this.index.get(first.key);
    let end = start + 1;
    let total = first.length;
    while (loc?.trust && end < chunks.length) {
      const c = chunks[end]!;
      const next = this.index.get(c.key);
      if (total + c.length > COPY_RUN || c.offset !== first.offset + total || next?.file !== loc.file || next.offset !== loc.offset + total || next.trust !== loc.trust) break;
      total += c.length;
      end++;
    }
    return chunks.slice(start, end);
  }

  /**
   * Copy a run from a local file whose chunks need no hashing: written by this run, or a file that
   * kept the stat identity it had when scanned (before and after the read). False if neither.
   */
  private async copyTrusted(file: StagedFile, run: FileChunk[], copy: PoolCopy): Promise<boolean> {
    const loc = this.index.get(run[0]!.key);
    const unchanged = loc && unchangedCheck(loc);
    if (!unchanged) return false;
    const total = run.reduce((n, c) => n + c.length, 0);
    const at = run[0]!.offset;
    if (total < ASYNC_COPY) {
      const buf = this.copyBuf && this.copyBuf.length >= total ? this.copyBuf : (this.copyBuf = Buffer.allocUnsafe(Math.max(ASYNC_COPY, total)));
      if (!this.readTrusted(loc.file, unchanged, buf, total, loc.offset)) return false;
      this.put(file, at, buf.subarray(0, total), run);
      return true;
    }
    const data = await copy.read(loc.file, total, loc.offset, unchanged, at);
    if (!data) return false;
    // A file can fail (and be removed) while this copy waits: its data is then of no use.
    if (file.state !== 'filling') return true;
    try {
      await copy.write(data, at);
    } catch (err) {
      if (file.state === 'filling') throw err;
      return true;
    }
    if (file.state === 'filling') this.wrote(file, run, total);
    return true;
  }

  private async copied(file: StagedFile, c: FileChunk): Promise<void> {
    this.stats.chunksLocal++;
    this.stats.bytesLocal += c.length;
    await this.filled(file);
  }

  /**
   * A chunk the receiver already holds; null if it is gone or changed. Read from a trusted file
   * (see unchangedCheck) it needs no hashing; otherwise it is checked against its hash. A caller
   * that is done with the data before it reads another chunk passes `scratch` (a buffer of the
   * largest chunk size) to have it read there instead of into a fresh buffer.
   */
  readLocal(key: string, scratch?: Buffer): Buffer | null {
    const loc = this.index.get(key);
    if (!loc) return null;
    const buf = scratch && scratch.length >= loc.length ? scratch.subarray(0, loc.length) : Buffer.allocUnsafe(loc.length);
    const unchanged = unchangedCheck(loc);
    if (unchanged && this.readTrusted(loc.file, unchanged, buf, loc.length, loc.offset)) return buf;
    try {
      if (preadFull(this.reads.get(loc.file), buf, loc.length, loc.offset) !== loc.length || sha256(buf).toString('latin1') !== key) throw new Error('stale');
    } catch {
      this.index.delete(key); // the file changed or went away since it was indexed
      return null;
    }
    return buf;
  }

  /** Read synchronously from a trusted file, which must pass `unchanged` before and after. */
  private readTrusted(file: string, unchanged: (st: BigIntStats) => boolean, buf: Buffer, length: number, offset: number): boolean {
    try {
      const fd = this.reads.get(file);
      return unchanged(fstatSync(fd, { bigint: true })) && preadFull(fd, buf, length, offset) === length && unchanged(fstatSync(fd, { bigint: true }));
    } catch {
      this.reads.close(file);
      return false;
    }
  }

  /** Data for a wanted chunk, as the receiver took it (see its take(): checked where it must be). */
  async deliver(key: string, data: Buffer): Promise<void> {
    const slots = this.pending.get(key);
    if (!slots) return;
    this.pending.delete(key);
    let indexed = false;
    for (const slot of slots) {
      await this.creation(slot.file);
      if (slot.file.state !== 'filling') continue;
      this.put(slot.file, slot.offset, data, [{ key, offset: slot.offset, length: data.length }]);
      await this.filled(slot.file);
      if (!indexed) {
        // Later files needing this chunk copy it from here instead of asking again.
        this.index.set(key, { file: slot.file.staged, offset: slot.offset, length: data.length, trust: WRITTEN_HERE });
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
      this.filledOrFailed(file);
      failed.push(file);
      await file.created?.catch(() => {}); // a creation under way ends before the file goes
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

  /** Write verified chunk data at `offset` of a created file, and journal the chunks it holds. */
  private put(file: StagedFile, offset: number, data: Buffer, chunks: { key: string; offset: number; length: number }[]): void {
    pwriteFull(this.writes.get(file.staged), data, offset);
    this.wrote(file, chunks, data.length);
  }

  private wrote(file: StagedFile, chunks: { key: string; offset: number; length: number }[], bytes: number): void {
    this.journal?.record(file.staged, chunks);
    this.flush?.wrote(bytes);
  }

  private async filled(file: StagedFile): Promise<void> {
    file.remaining--;
    if (file.remaining === 0) await this.finish(file);
  }

  private async finish(file: StagedFile): Promise<void> {
    await this.creation(file);
    const fd = this.writes.get(file.staged);
    fchmodSync(fd, file.entry.mode);
    const t = nsToSeconds(file.entry.mtimeNs);
    futimesSync(fd, t, t);
    this.writes.close(file.staged);
    file.state = 'ready';
    this.filledOrFailed(file);
  }

  /** The file's creation, begun now if its turn has not come (its data came first). */
  private creation(file: StagedFile): Promise<void> {
    if (!file.created) {
      if (file.state !== 'filling') return Promise.resolve(); // failed before its turn: nothing to create
      this.beginCreate(file, true);
    }
    return file.created!;
  }

  private beginCreate(file: StagedFile, first: boolean): void {
    const create = file.create!;
    file.create = null;
    this.ahead++;
    file.created = this.creating.run(create, first);
    file.created.catch(() => {}); // awaited where the file is first written
  }

  /** Create files in the order their data is wanted, while fewer than CREATE_AHEAD are open. */
  private createAhead(): void {
    while (this.ahead < CREATE_AHEAD && this.nextToCreate < this.toCreate.length) {
      const file = this.toCreate[this.nextToCreate++]!;
      if (!file.created && file.state === 'filling') this.beginCreate(file, false);
    }
    if (this.nextToCreate === this.toCreate.length) {
      this.toCreate.length = 0; // all begun: the queue holds on to no file
      this.nextToCreate = 0;
    }
  }

  /** A file left 'filling': its descriptor no longer counts against CREATE_AHEAD. */
  private filledOrFailed(file: StagedFile): void {
    if (!file.created) return;
    this.ahead--;
    this.createAhead();
  }

  close(): void {
    this.writes.closeAll();
    this.journal?.close();
    this.journal = null;
  }

  /**
   * Close the old versions read for local chunks, in the thread pool. Closing the last descriptor
   * of a file replaced meanwhile frees its blocks, which took ext4 50-70 ms for the few old shards
   * of a nightly update and held up other changes to the filesystem meanwhile (the lock's
   * removal): done last, once the run has let go of the destination.
   */
  releaseOldFiles(): void {
    this.reads.closeAllLater();
    for (const h of this.held.splice(0)) h.close().catch(() => {});
  }
}

/**
 * How to tell that the bytes at `loc` need no hashing: a stat of their file shows the identity it
 * had when it was scanned (checked before and after reading). Chunks this run wrote itself pass
 * always; null where there is no such trust (chunks an interrupted run journaled).
 */
function unchangedCheck(loc: ChunkLocation): ((st: BigIntStats) => boolean) | null {
  const trust = loc.trust;
  if (!trust) return null;
  if (trust === WRITTEN_HERE) return () => true;
  const expected = entryIdentity(trust);
  return (st) => statIdentity(st) === expected;
}

/**
 * Buffers of the copies in the thread pool: one for each file being copied, of which the receiver
 * runs five at most (see its copyLater); a sixth copy would wait for one.
 */
const runBuffers = new AlignedPool(5, COPY_RUN + ALIGN);

/**
 * The descriptors and buffer one copyLocal call uses in the thread pool, kept across its runs:
 * most runs of a changed file come from one old file. Its own descriptors, not the caches':
 * those may be closed (least recently used) while the pool works. Runs are written direct where
 * they cover whole pages (see util/direct-io.ts): a changed shard whose records all moved is
 * mostly such a copy.
 */
class PoolCopy {
  private src: { file: string; handle: FileHandle | null } | null = null;
  private dst: FileHandle | null = null;
  private direct: FileHandle | null | undefined; // undefined until the first write; null: not to be had
  private buf: Buffer | null = null;
  private pooled: Buffer | null = null;

  constructor(private readonly staged: string) {}

  /**
   * `length` bytes at `offset` of `file`, to be written at `at`, read while its stat identity
   * passed `unchanged` both before and after the read; null if it did not (or the file cannot be
   * read).
   */
  async read(file: string, length: number, offset: number, unchanged: (st: BigIntStats) => boolean, at: number): Promise<Buffer | null> {
    if (this.src?.file !== file) {
      await this.src?.handle?.close();
      this.src = { file, handle: await fsp.open(file, READ_FLAGS).catch(() => null) };
    }
    const src = this.src;
    if (!src.handle) return null;
    if (!this.buf) {
      this.pooled = await runBuffers.take();
      this.buf = this.pooled ?? Buffer.allocUnsafe(runBuffers.size);
    }
    // Placed at the same offset within a page as its destination, so that its whole pages are aligned.
    const pad = at % ALIGN;
    const buf = pad + length <= this.buf.length ? this.buf.subarray(pad, pad + length) : Buffer.allocUnsafe(length);
    try {
      if (!unchanged(await src.handle.stat({ bigint: true }))) throw new Error('changed');
      if ((await preadInPool(src.handle.fd, buf, length, offset)) !== length || !unchanged(await src.handle.stat({ bigint: true }))) throw new Error('changed');
      return buf;
    } catch {
      await src.handle.close().catch(() => {});
      src.handle = null; // no more reads from this file in this copy
      return null;
    }
  }

  async write(data: Buffer, at: number): Promise<void> {
    this.dst ??= await fsp.open(this.staged, constants.O_WRONLY);
    const aligned = AlignedPool.alignedFor(data, at);
    if (aligned && this.direct === undefined) this.direct = await openDirect(this.staged);
    if (!aligned || !this.direct) return pwriteInPool(this.dst.fd, data, at);
    if (!(await pwriteDirect(this.dst.fd, this.direct.fd, data, at))) {
      await this.direct.close();
      this.direct = null;
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.src?.handle?.close(), this.dst?.close(), this.direct?.close()]);
    if (this.pooled) runBuffers.give(this.pooled);
    this.src = null;
    this.dst = null;
    this.direct = null;
    this.buf = null;
    this.pooled = null;
  }
}
