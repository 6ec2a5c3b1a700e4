import { existsSync, lstatSync, opendirSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { sha256 } from '../chunker/chunk-file.js';
import { Cutter } from '../chunker/cdc.js';
import { HashPool } from '../chunker/hash-pool.js';
import type { ChunkParams } from '../chunker/params.js';
import { DsyncError, fsError } from '../errors/dsync-error.js';
import { fileDigest, unhashed } from '../manifest/codec.js';
import { entryIdentity, parentOf, sameMtime, type Entry } from '../manifest/entry.js';
import { describeOne, scanTree } from '../manifest/scan.js';
import { ContentIndex } from '../manifest/content-index.js';
import { StatCache } from '../manifest/stat-cache.js';
import { decodeChunk, decodeChunkLists, decodeChunks, decodeChunkMissing, decodeJson, encodeNeedLists, encodeWant, type WantItem, decodeEntries, decodeManifestBegin, decodeManifestEnd, jsonPayload, ENC, MSG, MSG_NAME } from '../protocol/messages.js';
import type { Peer } from '../protocol/peer.js';
import { MAX_STREAMS, type RunOptions } from '../protocol/hello.js';
import { Assembly, LARGE_COPY, type EarlyCopy, type FileChunk, type StagedFile } from '../receiver/assembly.js';
import { ChunkIndex } from '../receiver/chunk-index.js';
import { publish } from '../receiver/publish.js';
import { Journal } from '../receiver/journal.js';
import { DestLock } from '../receiver/lock.js';
import { StateDir } from '../receiver/state-dir.js';
import { Versions } from '../receiver/versions.js';
import { ChunkDecoder } from '../codec/chunk-codec.js';
import { BLOCK, signature } from '../codec/delta.js';
import { emptyStats, type ItemAction, type Reporter, type RunStats } from './events.js';
import { compileFilters, type Exclude } from './filter.js';
import { decide } from './plan.js';
import { EarlyFlush, fsyncFiles, syncFilesystem } from '../util/durable.js';
import { Limiter } from '../util/limiter.js';
import { mkdirp } from '../util/mkdirp.js';

/** The run's options that concern the receiver (documented in protocol/hello.ts), and where it writes. */
export interface ReceiverOptions extends Pick<RunOptions, 'destIsDir' | 'deleteExtra' | 'dryRun' | 'filters' | 'verify' | 'checksum' | 'waitLock' | 'atomic' | 'keep' | 'stagingMaxAge' | 'stagingMaxSize'> {
  root: string; // destination path as given
  reporter: Reporter;
}

const WANT_BATCH = 1024;
/** Wants of a batch of chunk lists that are sent before the rest of the batch is planned. */
const WANT_EARLY = 64;
/**
 * Large copies at once (see copyLater). Each holds a buffer of up to 4 MiB (assembly's COPY_RUN)
 * while its runs go through the thread pool: 16 MiB at most.
 */
const COPIERS = 4;
const MAX_REFETCH = 3;
/** Longest stretch of the destination's scan without a turn of the event loop (see askEarly). */
const SCAN_TURN_MS = 5;

/**
 * The receiving side of a run: indexes what the destination already has, decides per source entry
 * what to do, asks the sender only for chunks it has nowhere, builds changed files in staging, and
 * publishes them once every wanted chunk has arrived (see take() for which are hashed again).
 */
export async function runReceiver(peer: Peer, opts: ReceiverOptions): Promise<RunStats> {
  const begin = decodeManifestBegin((await peer.expect(MSG.MANIFEST_BEGIN)).payload);
  const exclude = compileFilters([...opts.filters, ...begin.filters]);
  const run = new ReceiverRun(peer, opts, begin.params, begin.singleFile, exclude);
  return run.run();
}

class ReceiverRun {
  private readonly stats = emptyStats();
  private readonly entries: Entry[] = [];
  private readonly actions: (ItemAction | 'none')[] = [];
  private readonly dirs = new Set<string>();
  private readonly seen = new Set<string>();
  private readonly index = new ChunkIndex();
  private readonly assembly: Assembly;
  private readonly staged = new Map<number, StagedFile>();
  private readonly counted = new Set<string>(); // dry run: chunks already counted as sent
  private readonly refetches = new Map<string, number>();
  private readonly refetching = new Set<string>(); // asked for again, not yet arrived
  private readonly stagedNames = new Map<string, number>(); // digest -> files staged with it so far
  private readonly early = new Map<number, { staged: string; copy: EarlyCopy }>(); // entry -> copyOldEarly's copy (of the version copy.identity)
  private dest = new Map<string, Entry>();
  /** The destination's files as its stat cache knows them, until the scan is done (see askEarly). */
  private known: StatCache | null = null;
  private askedUpTo = 0; // entries askEarly has looked at
  private readonly askedEarly = new Set<number>();
  private cache = StatCache.empty(); // the destination's, as its scan found it
  private root = ''; // where this run publishes
  private scanRoot: string | null = null; // what the destination holds now (another path with --atomic)
  private versions: Versions | null = null;
  private rename: string | null = null; // single-file source: the name it gets in the destination
  private state!: StateDir;
  private want: WantItem[] = [];
  private planned = 0;
  private planning: Promise<void> = Promise.resolve();
  private readonly copying = new Set<Promise<void>>();
  private readonly copiers = new Limiter(COPIERS);
  private readonly smallCopies = new Limiter(1);
  private readonly awaitingLists = new Set<number>(); // changed files whose chunk lists were asked for
  private unplannedLists = 0; // lists received but not yet planned
  private needLists: number[] = [];
  private manifestDone = false; // every entry of the source is known
  private manifestPlanned = false;
  private readonly byContent = new ContentIndex(() => this.dest.values()); // see mayMove, after the scan
  private readonly moving: number[] = []; // changed files that may take over a deleted file (see moveIn)
  private readonly movedFrom = new Set<string>();
  private wantEnded = false;
  private sourceHadErrors = false;
  // Its result holds until the next chunk's decode: each chunk is written before the next is read.
  private readonly decoder = new ChunkDecoder();
  /** Delta bases are read here: each is done with (signed, or a delta applied) before the next. */
  private baseScratch: Buffer | null = null;

  constructor(
    private readonly peer: Peer,
    private readonly opts: ReceiverOptions,
    private readonly params: ChunkParams,
    private readonly singleFile: boolean,
    private readonly exclude: Exclude | undefined,
  ) {
    this.assembly = new Assembly(this.index, this.stats);
  }

  async run(): Promise<RunStats> {
    await this.resolveTarget();
    this.state = StateDir.for(this.versions?.link ?? this.root);
    let lock: DestLock | null = null;
    if (!this.opts.dryRun) {
      try {
        lock = await DestLock.acquire(this.state.lockFile, this.root, this.opts.waitLock);
      } catch (err) {
        throw fsError(err, `cannot lock ${this.root} (dsync needs a writable parent of the destination)`, 'DEST_NOT_WRITABLE');
      }
    }
    let after: (() => Promise<void>) | null = null;
    try {
      if (lock) {
        const gc = await this.state.collectGarbage(this.opts.stagingMaxAge * 1000, this.opts.stagingMaxSize);
        if (gc.files) this.opts.reporter.warning({ code: 'PARTIAL', recovered: true, message: `removed ${gc.files} staged files (${gc.bytes} bytes) that interrupted runs left longer ago or larger than the staging limits` });
        // Made with the first staged file: a run that changes no file's content needs none.
        let staging: Promise<void> | null = null;
        this.assembly.prepare = () =>
          (staging ??= this.state.create().then(() => {
            this.assembly.journal = new Journal(this.state.journal, this.state.staging);
            this.assembly.flush = new EarlyFlush(this.state.staging);
          }));
      }
      after = await this.runLocked();
    } finally {
      await lock?.release();
      if (lock) await this.state.removeIfEmpty();
      this.assembly.releaseOldFiles();
    }
    // Only now, with the lock released: the client may end at once and start another run.
    await this.peer.send(MSG.DONE, jsonPayload({ stats: this.stats }));
    await after?.();
    return this.stats;
  }

  /** The run under the lock; returns what is left to do after DONE (nothing the client waits for). */
  private async runLocked(): Promise<(() => Promise<void>) | null> {
    this.opts.reporter.phase('scanning destination');
    this.chain(() => this.scanDestination());
    // The next version is cloned from the current one only after it was scanned: making hard links
    // moves the files' ctimes, which would defeat the stat cache of that scan.
    const versions = this.opts.dryRun ? null : this.versions;
    if (versions) this.chain(() => versions.prepare());
    let cleared: Promise<void> | null = null;
    try {
      await this.receive();
      this.opts.reporter.phase('publishing');
      if (!this.opts.dryRun) await this.makeDurable();
      await publish({
        breakLinks: !!versions,
        root: this.root,
        entries: this.entries,
        actions: this.actions,
        staged: this.staged,
        dest: this.dest,
        deleteExtra: this.deletesExtras(),
        dryRun: this.opts.dryRun,
        tmpPath: async (idx) => {
          await this.assembly.prepare?.();
          return this.state.linkPath(idx);
        },
        reporter: this.opts.reporter,
        stats: this.stats,
      });
      if (this.opts.deleteExtra && this.sourceHadErrors) {
        this.warn('PARTIAL', 'the source had read errors, so nothing was deleted (--delete skipped)');
      }
      if (!this.opts.dryRun) {
        // Everything staged is in place now: staging is cleared in the thread pool meanwhile.
        cleared = this.state.removeStaging();
        cleared.catch(() => {}); // awaited below; after a failure it is left to the next run
        // The renames themselves (and a new version's links), best effort; a run that changed
        // nothing in place has nothing to flush.
        const { created, changed, metaOnly, deleted } = this.stats;
        const flushed = versions || created + changed + metaOnly + deleted > 0 ? syncFilesystem(this.root) : null;
        if (versions) {
          await flushed;
          await versions.switchTo();
          await versions.prune(this.opts.keep);
        }
        // What the destination's files are now is read under the lock; the cache is written after
        // DONE, beside the flush of the renames: it only saves work, and one that names a rename a
        // crash undid names a file that is not there any more (a miss, not a wrong answer).
        const cached = this.cacheEntries();
        await cleared;
        return async () => {
          await Promise.all([this.cache.save(this.root, this.params, cached).catch(() => {}), flushed]);
        };
      }
      return null;
    } catch (err) {
      await versions?.discard().catch(() => {});
      throw err;
    } finally {
      this.assembly.close();
    }
  }

  /** Staged data reaches the disk before any of it is renamed into place. */
  private async makeDurable(): Promise<void> {
    await this.assembly.flush?.settle();
    const ready = [...this.staged.values()].filter((f) => f.state === 'ready').map((f) => f.staged);
    if (ready.length && !(await syncFilesystem(this.state.staging))) {
      try {
        await fsyncFiles(ready);
      } catch (err) {
        throw fsError(err, `cannot flush staged files in ${this.state.staging}`);
      }
    }
  }

  private warn(code: 'PARTIAL' | 'VANISHED', message: string, p?: string): void {
    this.stats.warnings++;
    this.opts.reporter.warning({ code, message, path: p });
  }

  /** Work out the destination root: a directory, or for a single-file source, maybe a file name. */
  private async resolveTarget(): Promise<void> {
    const dst = path.resolve(this.opts.root);
    if (this.opts.atomic) {
      if (this.singleFile) throw new DsyncError('USAGE', '--atomic needs a directory as the source');
      this.versions = await Versions.open(dst);
      await this.ensureDir(path.dirname(dst));
      this.root = this.versions.next;
      this.scanRoot = this.versions.current;
      return;
    }
    let st: import('node:fs').Stats | null = null;
    try {
      st = await fsp.stat(dst);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, `cannot access destination ${dst}`, 'DEST_NOT_WRITABLE');
    }
    if (this.singleFile && !(st?.isDirectory() || this.opts.destIsDir)) {
      this.root = path.dirname(dst);
      this.scanRoot = this.root;
      this.rename = path.basename(dst);
      if (st?.isDirectory() === false || !st) await this.ensureDir(this.root);
      return;
    }
    if (st && !st.isDirectory()) {
      throw new DsyncError('DEST_NOT_WRITABLE', `destination ${dst} exists and is not a directory`);
    }
    this.root = dst;
    this.scanRoot = dst;
    if (!st) await this.ensureDir(dst);
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.opts.dryRun) return;
    try {
      await mkdirp(dir);
    } catch (err) {
      throw fsError(err, `cannot create destination ${dir}`, 'DEST_NOT_WRITABLE');
    }
  }

  /** Index every chunk the destination holds (the stat cache spares re-reading unchanged files). */
  private async scanDestination(): Promise<void> {
    // Nothing to scan: a first --atomic run, or a dry run into a destination not made yet.
    const root = this.scanRoot;
    if (!root || !existsSync(root)) return this.reuseJournal();
    // An empty destination (a first copy, after rm -rf) has nothing for a cache its path kept.
    const cache = (this.cache = this.opts.verify || isEmptyDir(root) ? StatCache.empty() : await StatCache.load(root, this.params));
    this.known = cache;
    this.askEarly();
    const cutter = new Cutter(this.params);
    // Unreadable destination files are simply not reused, so scan warnings are dropped.
    const pool = HashPool.create(this.params);
    const scanOpts = {
      cutter,
      cache,
      pool,
      exclude: this.exclude,
      onWarning: () => {},
      onRead: (n: number) => {
        this.stats.destRead += n;
      },
    };
    const name = this.rename;
    const scan = name ? describeOne(path.join(root, name), name, scanOpts) : scanTree(root, scanOpts);
    try {
      let turn = performance.now();
      for await (const e of scan) {
        this.dest.set(e.path, e);
        if (e.type === 'file') this.index.addFile(path.join(root, e.path), e);
        // A scan the cache answers never waits for I/O: the manifest still coming in (and the
        // early asks it brings) would wait for its end without a turn of the event loop.
        if (performance.now() - turn > SCAN_TURN_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          turn = performance.now();
        }
      }
    } finally {
      await pool?.close();
    }
    this.known = null; // planning has the scan's view now
    this.reuseJournal();
  }

  /** What an interrupted run already received is data this run has too. */
  private reuseJournal(): void {
    if (!this.opts.dryRun) this.stats.chunksResumed = Journal.reuse(this.state.journal, this.state.staging, this.index, this.params.max);
  }

  private async receive(): Promise<void> {
    let sendEnded = false;
    let sendEnds = 0;
    let sendEndsExpected = -1;
    for (;;) {
      const f = await this.peer.next();
      if (!f) throw new DsyncError('CONN_LOST', `connection to ${this.peer.label} closed before the transfer finished`);
      switch (f.type) {
        case MSG.ENTRIES: {
          if (this.manifestDone) throw new DsyncError('PROTOCOL', 'manifest entries after the end of the manifest');
          const batch = decodeEntries(f.payload, this.params);
          for (const e of batch) this.accept(e);
          this.askEarly();
          this.chain(() => this.planPending());
          break;
        }
        case MSG.MANIFEST_END:
          if (this.manifestDone) throw new DsyncError('PROTOCOL', 'duplicate end of manifest');
          this.manifestDone = true;
          this.sourceHadErrors = decodeManifestEnd(f.payload).sourceHadErrors;
          if (!this.singleFile && this.entries.length === 0) throw new DsyncError('PROTOCOL', 'empty manifest');
          this.chain(async () => {
            await this.planPending();
            await this.moveIn();
            this.manifestPlanned = true;
            await this.maybeEndWants();
          });
          break;
        case MSG.CHUNK_LISTS: {
          const lists = decodeChunkLists(f.payload, this.params, (i) => (this.awaitingLists.has(i) ? this.entries[i]! : null));
          for (const { index, chunks } of lists) {
            const e = this.entries[index]!;
            this.awaitingLists.delete(index);
            this.unplannedLists++;
            if (!chunks) continue; // read late, it had changed: the sender warned, the old version stays
            const announced = e.digest;
            e.chunks = chunks;
            if (announced && !fileDigest(e).equals(announced)) throw new DsyncError('PROTOCOL', `the chunk list of ${e.path} does not match its digest`);
          }
          this.chain(async () => {
            for (const { index, chunks } of lists) {
              const e = this.entries[index]!;
              // Announced unread, it was planned by size and mtime: now its content decides.
              if (!e.digest) this.actions[index] = chunks ? decide(e, this.dest.get(e.path)) : 'none';
              if (this.actions[index] !== 'new' && this.actions[index] !== 'changed') {
                this.dropEarly(index); // the file changed here since the stat cache saw it
                continue;
              }
              if (this.opts.dryRun) {
                this.countDry(e);
                continue;
              }
              if (this.mayMove(e)) {
                this.moving.push(index);
                continue;
              }
              const { file, local, localBytes } = this.stage(index, e);
              // A frame's worth of wants goes out at once, so the sender works while this side
              // plans the next file (signatures of delta bases take a while) and copies what it
              // holds; the thread pool's completions (creating, copying) get their turn meanwhile.
              if (this.want.length >= WANT_EARLY) {
                await this.flushWant();
                await new Promise((resolve) => setImmediate(resolve));
              }
              this.copyLater(e, file, local, localBytes);
            }
            if (this.manifestDone) await this.moveIn();
            await this.flushWant();
            this.unplannedLists -= lists.length;
            await this.maybeEndWants();
          });
          break;
        }
        case MSG.CHUNK:
        case MSG.CHUNKS:
          await (f.type === MSG.CHUNK ? this.onChunk(f.payload) : this.onChunks(f.payload));
          f.release?.(); // written (synchronously) or dropped: the slab may carry the next frame
          if (sendEnded && this.assembly.outstanding === 0 && (await this.complete())) return;
          break;
        case MSG.CHUNK_MISSING: {
          const { hash, reason } = decodeChunkMissing(f.payload);
          for (const file of await this.assembly.fail(hash.toString('latin1'))) {
            this.warn('VANISHED', `${file.entry.path}: not updated, ${reason}`, file.entry.path);
          }
          if (sendEnded && this.assembly.outstanding === 0 && (await this.complete())) return;
          break;
        }
        case MSG.SEND_END: {
          // One on each data stream and one on the control stream; the last says all have arrived.
          const end = decodeJson(f.payload, 'transfer end');
          const streams = end.streams;
          if (!Number.isInteger(streams) || (streams as number) < 0 || (streams as number) > MAX_STREAMS || (sendEndsExpected !== -1 && streams !== sendEndsExpected - 1)) {
            throw new DsyncError('PROTOCOL', `malformed end of transfer from ${this.peer.label}`);
          }
          sendEndsExpected = (streams as number) + 1;
          if (++sendEnds < sendEndsExpected) break;
          if (sendEnds > sendEndsExpected || !this.manifestDone) throw new DsyncError('PROTOCOL', 'end of transfer out of place');
          await this.planning;
          this.stats.sourceRead = Number(end.sourceRead) || 0;
          // Every want sent before WANT_END is answered; only chunks asked for again (damaged in
          // transit) may still be on their way.
          if (this.assembly.outstanding > this.refetching.size) {
            throw new DsyncError('PROTOCOL', `${this.peer.label} ended the transfer with ${this.assembly.outstanding} chunks still missing`);
          }
          sendEnded = true;
          if (this.assembly.outstanding === 0 && (await this.complete())) return;
          break;
        }
        default:
          throw new DsyncError('PROTOCOL', `unexpected ${MSG_NAME[f.type] ?? `message type ${f.type}`} from ${this.peer.label}`);
      }
    }
  }

  /**
   * Planning runs behind the message loop, in order. A failure there (a full disk while staging)
   * is handed to the loop at once, so the run ends with that error instead of waiting forever.
   */
  private chain(step: () => Promise<void>): void {
    this.planning = this.planning.then(step);
    this.planning.catch((err: unknown) => this.peer.abort(err));
  }

  /**
   * Copy what a staged file needs from data this side holds, beside planning and receiving: files
   * with much to copy (a changed shard) a few at once, the others one after another, so that a
   * shard is not held up behind hundreds of small files. A chunk that turns out to be gone is
   * wanted late, like a chunk that failed verification (the sender answers wants after the end
   * of wants, too).
   */
  private copyLater(e: Entry, file: StagedFile, local: FileChunk[], localBytes: number): void {
    const copy = (localBytes < LARGE_COPY ? this.smallCopies : this.copiers).run(async () => {
      let missing: FileChunk[];
      try {
        missing = await this.assembly.copyLocal(file, local);
      } catch (err) {
        throw fsError(err, `cannot stage ${e.path} in ${this.state.staging}`);
      }
      if (!missing.length) return;
      if (this.wantEnded) for (const m of missing) this.refetching.add(m.key);
      this.wantChunks(missing, null);
      await this.flushWant();
    });
    this.copying.add(copy);
    copy.then(
      () => this.copying.delete(copy),
      (err: unknown) => this.peer.abort(err),
    );
  }

  /** Every copy done, with nothing more to receive: the last chunk is in. */
  private async complete(): Promise<boolean> {
    await Promise.all(this.copying);
    return this.assembly.outstanding === 0;
  }

  /** Check an incoming entry's place in the tree before keeping it. */
  private accept(e: Entry): void {
    if (this.singleFile) {
      if (this.entries.length > 0 || e.type !== 'file') throw new DsyncError('PROTOCOL', 'a single-file source sent more than one file');
      if (this.rename) e.path = this.rename;
    } else if (this.entries.length === 0) {
      if (e.path !== '' || e.type !== 'dir') throw new DsyncError('PROTOCOL', 'manifest does not start with its root directory');
    } else if (e.path === '' || this.seen.has(e.path) || !this.dirs.has(parentOf(e.path))) {
      throw new DsyncError('PROTOCOL', `manifest entry ${JSON.stringify(e.path)} is duplicated or outside a listed directory`);
    }
    this.seen.add(e.path);
    if (e.type === 'dir') this.dirs.add(e.path);
    this.entries.push(e);
    this.stats.entries++;
    if (e.type === 'file') {
      this.stats.files++;
      this.stats.bytes += e.size;
    }
  }

  private async planPending(): Promise<void> {
    while (this.planned < this.entries.length) {
      const idx = this.planned++;
      const e = this.entries[idx]!;
      const action = decide(e, this.dest.get(e.path));
      this.actions[idx] = action;
      if (e.type !== 'file' || (action !== 'new' && action !== 'changed')) continue;
      // Content differs: only now is the file's chunk list worth its bytes on the wire, and the
      // staging area worth making (now, while the list is on its way).
      this.assembly.prepare?.().catch(() => {}); // a failure surfaces where a file is staged
      if (this.askedEarly.has(idx)) continue;
      this.awaitingLists.add(idx);
      this.needLists.push(idx);
      if (action === 'changed' && !this.mayMove(e)) this.copyOldEarly(idx, e, this.dest.get(e.path));
    }
    if (this.needLists.length) await this.peer.send(MSG.NEED_LISTS, encodeNeedLists(this.needLists.splice(0)));
    await this.flushWant();
  }

  /**
   * Ask at once for the chunk lists of files the sender announced unread (its first contact with
   * them) that differ by size or mtime from the destination's file as its stat cache knows it: on
   * first contact, reading the changed files for their lists is the long pole of an update (300
   * MB of shards here), and it starts while this side still scans. Files the cache does not know
   * wait for the scan (a destination made by another tool has no cache, and its files are mostly
   * the source's). Planning waits for the scan as before: a file that changed here since the cache
   * was written is planned by what the scan found, and a list asked for in vain is compared by
   * content like any other.
   */
  private askEarly(): void {
    if (!this.known) return;
    const early: number[] = [];
    for (; this.askedUpTo < this.entries.length; this.askedUpTo++) {
      const idx = this.askedUpTo;
      const e = this.entries[idx]!;
      const d = this.known.entry(e.path);
      // A file the cache knows unread (the tree was a source before) has no content to compare
      // with the sender's: the scan reads it.
      if (!d || (d.type === 'file' && !d.chunks && !unhashed(e)) || decide(e, d) !== 'changed') continue;
      // A file whose content another file here holds may be moved in instead (see mayMove): the
      // scan decides. Otherwise the copy of a large file's old version starts now too: in an
      // update it is the longest work, and it need not wait for the scan.
      if (!unhashed(e)) {
        if (this.mayMove(e, this.known.content)) continue;
        this.copyOldEarly(idx, e, d);
      }
      this.askedEarly.add(idx);
      this.awaitingLists.add(idx);
      early.push(idx);
    }
    if (early.length) this.peer.send(MSG.NEED_LISTS, encodeNeedLists(early)).catch((err: unknown) => this.peer.abort(err));
  }

  /** Once the whole manifest is planned and every asked-for list has arrived, no more wants. */
  private async maybeEndWants(): Promise<void> {
    if (!this.manifestPlanned || this.awaitingLists.size || this.unplannedLists || this.wantEnded) return;
    this.wantEnded = true;
    await this.flushWant();
    await this.peer.send(MSG.WANT_END);
  }

  /**
   * A large changed file whose old version `d` (as the scan or the stat cache saw it): its copy
   * into staging begins now, before the chunk list (see Assembly.copyOldEarly), which checks that
   * the old version is still `d`. Callers leave out a file that may take over another one
   * (mayMove): it would not be staged. A copy that is not used is removed (dropEarly).
   */
  private copyOldEarly(idx: number, e: Entry, d: Entry | undefined): void {
    if (this.opts.dryRun || !this.scanRoot || d?.type !== 'file' || !d.stat || d.size < LARGE_COPY || e.size < LARGE_COPY || unhashed(e)) return;
    const staged = this.stagedName(e);
    this.early.set(idx, { staged, copy: this.assembly.copyOldEarly(staged, path.join(this.scanRoot, e.path), entryIdentity(d)) });
  }

  /** An early copy that will not be staged after all (the file needs no update, or moved in). */
  private dropEarly(idx: number): void {
    const early = this.early.get(idx);
    if (!early) return;
    this.early.delete(idx);
    early.copy.cancel();
    this.copying.add(early.copy.done.then(() => fsp.rm(early.staged, { force: true })).catch(() => {}));
  }

  /** Stage a new or changed file; its wants are queued, its chunks held here are returned to copy. */
  private stage(idx: number, e: Entry): { file: StagedFile; local: FileChunk[]; localBytes: number } {
    try {
      const old = this.scanRoot ? path.join(this.scanRoot, e.path) : undefined; // as the scan indexed it
      // A copy begun from the stat cache's view serves only if the scan found that same version.
      const d = this.dest.get(e.path);
      if (this.early.get(idx)?.copy.identity !== (d?.stat ? entryIdentity(d) : undefined)) this.dropEarly(idx);
      const early = this.early.get(idx);
      this.early.delete(idx);
      const { file, want, local, localBytes } = this.assembly.addFile(e, early?.staged ?? this.stagedName(e), old, early?.copy);
      this.staged.set(idx, file);
      this.wantChunks(want, want.length ? this.baseFinder(e) : null);
      return { file, local, localBytes };
    } catch (err) {
      throw fsError(err, `cannot stage ${e.path} in ${this.state.staging}`);
    }
  }

  /**
   * Whether publishing removes what the source does not list (--delete); a source with read
   * errors is known only at the end of its manifest, and then nothing is removed.
   */
  private deletesExtras(): boolean {
    return this.opts.deleteExtra && !this.singleFile && !this.sourceHadErrors;
  }

  /** A name in staging of its own for a file's new content (named by it, see StateDir). */
  private stagedName(e: Entry): string {
    const digest = fileDigest(e).toString('hex');
    const copy = this.stagedNames.get(digest) ?? 0;
    this.stagedNames.set(digest, copy + 1);
    return this.state.stagedPath(digest, copy);
  }

  /**
   * Whether a new or changed file has the content of a destination file elsewhere that --delete
   * may remove (a file moved or renamed at the source). Which one is decided once the whole
   * manifest is known (see moveIn). Before the scan, the stat cache's `files` tell.
   */
  private mayMove(e: Entry, files = this.byContent): boolean {
    return this.deletesExtras() && !this.versions && files.find(e).length > 0;
  }

  /**
   * Files that may take over a destination file --delete removes (see mayMove) get that file
   * itself, as a new name (Assembly.linkWhole): a moved file then costs no copy however large,
   * and no new inode. Only a file of the same mode and mtime that the source no longer lists
   * qualifies, each one once; every other file is staged and copied as usual.
   */
  private async moveIn(): Promise<void> {
    const files = this.moving.splice(0);
    await Promise.all(
      files.map(async (idx) => {
        const e = this.entries[idx]!;
        const same = this.deletesExtras() ? this.byContent.find(e) : [];
        const from = same.find((d) => !this.seen.has(d.path) && !this.movedFrom.has(d.path) && d.mode === e.mode && sameMtime(d.mtimeNs, e.mtimeNs));
        if (from) {
          this.movedFrom.add(from.path);
          let file: StagedFile | null;
          try {
            file = await this.assembly.linkWhole(e, this.stagedName(e), path.join(this.root, from.path), entryIdentity(from));
          } catch (err) {
            throw fsError(err, `cannot stage ${e.path} in ${this.state.staging}`);
          }
          if (file) {
            this.dropEarly(idx);
            return void this.staged.set(idx, file);
          }
        }
        const { file, local, localBytes } = this.stage(idx, e);
        this.copyLater(e, file, local, localBytes);
      }),
    );
  }

  /** Queue wants for chunks of a file, each with a delta base where one is worth it. */
  private wantChunks(want: FileChunk[], bases: ReturnType<ReceiverRun['baseFinder']>): void {
    const wanted = new Set(want.map((w) => w.index));
    for (const w of want) {
      // A delta pays off for an isolated change between chunks the receiver has (an edit);
      // inside a run of new chunks (appended or rewritten data) the signature would be wasted.
      const isolated = !wanted.has(w.index - 1) || !wanted.has(w.index + 1);
      const base = isolated ? bases?.(w.offset + (w.length >> 1), w.key) : undefined;
      this.want.push({ hash: Buffer.from(w.key, 'latin1'), base });
      this.stats.chunksSent++;
      this.stats.bytesSent += w.length;
      this.opts.reporter.planned(w.length);
    }
  }

  /**
   * For a changed file, the old chunk that covers a given offset of the new version: the sender
   * can then send a delta against it (see codec/delta.ts) instead of the whole new chunk.
   */
  private baseFinder(e: Entry): ((offset: number, key: string) => WantItem['base']) | null {
    const old = this.dest.get(e.path);
    if (!old || old.type !== 'file' || !old.chunks || old.chunks.count === 0) return null;
    const c = old.chunks;
    const ends: number[] = [];
    let end = 0;
    for (let i = 0; i < c.count; i++) ends.push((end += c.lengths[i]!));
    return (offset, key) => {
      let lo = 0;
      let hi = ends.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ends[mid]! <= offset) lo = mid + 1;
        else hi = mid;
      }
      if (offset >= end) return undefined; // appended data: nothing old there
      const baseKey = c.key(lo);
      if (baseKey === key) return undefined;
      const data = this.assembly.readLocal(baseKey, this.scratch());
      return data && data.length >= BLOCK ? { hash: c.hash(lo), sig: signature(data) } : undefined;
    };
  }

  private scratch(): Buffer {
    return (this.baseScratch ??= Buffer.allocUnsafeSlow(this.params.max));
  }

  private countDry(e: Entry): void {
    const c = e.chunks!;
    this.stats.chunksTotal += c.count;
    for (let i = 0; i < c.count; i++) {
      const k = c.key(i);
      if (this.index.get(k) || this.counted.has(k)) {
        this.stats.chunksLocal++;
        this.stats.bytesLocal += c.lengths[i]!;
      } else {
        this.counted.add(k);
        this.stats.chunksSent++;
        this.stats.bytesSent += c.lengths[i]!;
      }
    }
  }

  /** Send every want gathered so far, in frames of at most WANT_BATCH hashes. */
  private async flushWant(): Promise<void> {
    while (this.want.length) {
      const batch = this.want.splice(0, WANT_BATCH);
      await this.peer.send(MSG.WANT, encodeWant(batch));
    }
  }

  private async onChunk(payload: Buffer): Promise<void> {
    const chunk = decodeChunk(payload, this.params.max);
    const [key] = this.pendingKeys([chunk.hash]);
    let data: Buffer | null;
    try {
      data = this.decoder.decode(chunk, (h) => this.assembly.readLocal(h.toString('latin1'), this.scratch()));
    } catch {
      data = null;
    }
    this.stats.wireBytes += payload.length;
    await this.take(key!, chunk.hash, data?.length === chunk.rawLength ? data : null, payload.length, chunk.encoding === ENC.DELTA);
  }

  /** Adjacent chunks compressed as one (see GROUP_MAX): each is checked and written on its own. */
  private async onChunks(payload: Buffer): Promise<void> {
    const group = decodeChunks(payload, this.params.max);
    const keys = this.pendingKeys(group.items.map((it) => it.hash));
    let data: Buffer | null;
    try {
      data = this.decoder.decodeGroup(group.data, group.total);
    } catch {
      data = null;
    }
    this.stats.wireBytes += payload.length;
    let at = 0;
    for (const [i, { hash, rawLength }] of group.items.entries()) {
      const wire = Math.round((payload.length * rawLength) / group.total);
      await this.take(keys[i]!, hash, data && data.subarray(at, (at += rawLength)), wire, false);
    }
  }

  /**
   * The index keys of received chunks, each of which must be one this side asked for and still
   * waits for, and (in a group) there only once.
   */
  private pendingKeys(hashes: Buffer[]): string[] {
    const keys = hashes.map((h) => h.toString('latin1'));
    if (keys.some((k) => !this.assembly.isPending(k)) || (keys.length > 1 && new Set(keys).size !== keys.length)) {
      throw new DsyncError('PROTOCOL', `${this.peer.label} sent a chunk that was not asked for`);
    }
    return keys;
  }

  /**
   * Write a received chunk, or ask for it again (whole) if it is not the data its hash names.
   * Its hash is checked here when it was rebuilt from this side's own data (a delta: the base may
   * not be what the sender took it for) or with -c. A chunk sent whole is taken as it came: every
   * transport checks its bytes in transit (SSH's MAC, the TCP data plane's AEAD, a pipe between
   * two local processes), and the sender read it from a file whose size, mtime, ctime and inode
   * were still those it was hashed with, the rule this side's own local reads follow (see
   * sender.ts). Checking it again was a fifth of the agent's CPU in a first copy.
   */
  private async take(key: string, hash: Buffer, data: Buffer | null, wire: number, rebuilt: boolean): Promise<void> {
    if (!data || ((rebuilt || this.opts.checksum) && !sha256(data).equals(hash))) {
      // Damaged in transit: ask again a few times before giving up on the files that need it.
      const n = (this.refetches.get(key) ?? 0) + 1;
      this.refetches.set(key, n);
      if (n > MAX_REFETCH) throw new DsyncError('PROTOCOL', `a chunk from ${this.peer.label} failed verification ${n} times`);
      this.opts.reporter.warning({ code: 'PROTOCOL', message: 'a chunk failed verification and is being sent again', recovered: true });
      this.refetching.add(key);
      await this.peer.send(MSG.WANT, encodeWant([{ hash }])); // whole, no delta this time
      return;
    }
    this.refetching.delete(key);
    this.opts.reporter.progress({ bytes: data.length, wire });
    try {
      await this.assembly.deliver(key, data);
    } catch (err) {
      throw fsError(err, `cannot write staged data in ${this.state.staging}`);
    }
  }

  /** The stat cache's entries for the destination as this run leaves it. */
  private cacheEntries(): Entry[] {
    const out: Entry[] = [];
    for (let idx = 0; idx < this.entries.length; idx++) {
      const e = this.entries[idx]!;
      if (e.type !== 'file') continue;
      const st = this.staged.get(idx);
      if (st && st.state !== 'ready') continue;
      const old = this.dest.get(e.path);
      // Untouched by this run, where it was scanned: what the scan saw still holds.
      if (this.actions[idx] === 'none' && this.scanRoot === this.root && old?.stat) {
        out.push(old);
        continue;
      }
      const chunks = e.chunks ?? old?.chunks; // unchanged: the same list as before
      if (!chunks) continue;
      try {
        const s = lstatSync(path.join(this.root, e.path), { bigint: true });
        if (s.isFile()) out.push({ ...e, chunks, mode: Number(s.mode & 0o7777n), mtimeNs: s.mtimeNs, stat: { ino: Number(s.ino), ctimeNs: s.ctimeNs } });
      } catch {
        // gone already: not cached
      }
    }
    return out;
  }
}

/** Whether `dir` is a directory with nothing in it (read no further than its first entry). */
function isEmptyDir(dir: string): boolean {
  try {
    const d = opendirSync(dir);
    try {
      return d.readSync() === null;
    } finally {
      d.closeSync();
    }
  } catch {
    return false; // not a directory: scanned as it is
  }
}
