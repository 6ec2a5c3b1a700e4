import { closeSync, constants, fstatSync, openSync, promises as fsp, readlinkSync, type BigIntStats } from 'node:fs';
import { chunkFd, scanBuffer } from '../chunker/chunk-file.js';
import type { Cutter } from '../chunker/cdc.js';
import type { HashPool } from '../chunker/hash-pool.js';
import type { Warning } from '../engine/events.js';
import { DsyncError, fsError } from '../errors/dsync-error.js';
import type { Entry } from './entry.js';
import type { StatCache } from './stat-cache.js';
import { Limiter } from '../util/limiter.js';
import { walkTree, type WalkItem, type WalkOptions } from './walk.js';

const READ_ATTEMPTS = 3;

export interface ScanOptions extends WalkOptions {
  cutter: Cutter;
  cache: StatCache;
  /** Called with the bytes of each file that had to be read (not served by the cache). */
  onRead?: (bytes: number) => void;
  /** Reused by every file of a scan (see scanBuffer), one file at a time; made on first use. */
  buffer?: { data: Buffer; turn: Limiter };
  /** Worker threads that chunk files in parallel; without one, files are chunked in this thread. */
  pool?: HashPool | null;
  /**
   * A file the stat cache has never seen is described unread (no chunk list), and stays so while
   * it does not move: the sender's first contact with a tree reads only the files whose size or
   * mtime differ at the receiver (see unhashed() in codec.ts). A file that moved since the cache
   * saw it (size, mtime, ctime or inode) is read, so a change after first contact is always found
   * by content, even one that kept size and mtime.
   */
  quickCheck?: boolean;
}

/** Files being described at once: enough to keep every worker of the pool busy. */
const LOOKAHEAD = 32;

/**
 * Walk a tree and describe every entry, chunking files the stat cache cannot vouch for. A file that
 * cannot be read is skipped with a warning; one that keeps changing while read is skipped too, so a
 * torn read never becomes a manifest entry.
 */
export async function* scanTree(root: string, opts: ScanOptions): AsyncGenerator<Entry> {
  type Outcome = { entry: Entry } | { error: unknown; rel: string };
  // Entries come out in walk order. Most are answered at once (directories, symlinks, files the
  // stat cache vouches for); files that must be read are chunked several at a time (the pool's
  // workers in parallel), and what follows one waits behind it. Outcomes never reject: errors
  // are reported in turn.
  const pending: (Outcome | Promise<Outcome>)[] = [];
  let reading = 0;
  function* settle(o: Outcome): Generator<Entry> {
    if ('entry' in o) yield o.entry;
    else if (o.rel === '') throw o.error;
    else opts.onWarning(toWarning(o.error, o.rel));
  }
  const outcome = (item: WalkItem): Outcome | Promise<Outcome> => {
    try {
      const entry = describeNow(item.abs, item.rel, item.st, opts);
      if (entry) return { entry };
    } catch (error) {
      return { error, rel: item.rel };
    }
    reading++;
    return readFile(item.abs, item.rel, Number(item.st.size), opts).then(
      (entry) => ({ entry }),
      (error: unknown) => ({ error, rel: item.rel }),
    );
  };
  for (const item of walkTree(root, opts)) {
    pending.push(outcome(item));
    while (pending.length && (!(pending[0] instanceof Promise) || reading >= LOOKAHEAD)) {
      const head = pending.shift()!;
      if (head instanceof Promise) reading--;
      yield* settle(await head);
    }
  }
  for (const head of pending) yield* settle(await head);
}

/** The one-entry scan of a single path (a single-file source or destination); nothing if absent. */
export async function* describeOne(abs: string, rel: string, opts: ScanOptions): AsyncGenerator<Entry> {
  let st: BigIntStats;
  try {
    st = await fsp.lstat(abs, { bigint: true });
  } catch {
    return;
  }
  if (st.isFile() || st.isDirectory() || st.isSymbolicLink()) yield await describe(abs, rel, st, opts);
}

export async function describe(abs: string, rel: string, st: BigIntStats, opts: ScanOptions): Promise<Entry> {
  return describeNow(abs, rel, st, opts) ?? readFile(abs, rel, Number(st.size), opts);
}

/**
 * Read a file announced unread (`e`, see quickCheck) now that its chunk list is wanted. If it is no
 * longer what was announced (another size, mtime or mode; gone, unreadable or changing), its list
 * would not match the announcement: that is reported as a warning and the result is null.
 */
export async function readAnnounced(abs: string, e: Entry, opts: ScanOptions): Promise<Entry | null> {
  try {
    const read = await readFile(abs, e.path, e.size, opts);
    if (read.size === e.size && read.mtimeNs === e.mtimeNs && read.mode === e.mode) return read;
    opts.onWarning({ code: 'VANISHED', message: `${e.path}: changed during the run; skipped, the destination keeps its old version`, path: e.path });
  } catch (err) {
    opts.onWarning(toWarning(err, e.path));
  }
  return null;
}

/** An entry that needs no file read (directory, symlink, file the cache vouches for), or null. */
function describeNow(abs: string, rel: string, st: BigIntStats, opts: ScanOptions): Entry | null {
  const mode = Number(st.mode & 0o7777n);
  if (st.isDirectory()) return { path: rel, type: 'dir', mode, mtimeNs: st.mtimeNs, size: 0 };
  if (st.isSymbolicLink()) return { path: rel, type: 'symlink', mode, mtimeNs: st.mtimeNs, size: 0, target: readlinkSync(abs) };
  const known = opts.cache.lookup(rel, st);
  if (typeof known === 'object') return fileEntry(rel, st, known);
  // Unread, the file goes out by size and mtime; a file that moved since the cache saw it is read.
  if (known === 'moved' || !opts.quickCheck) return null;
  return fileEntry(rel, st, undefined);
}

function fileEntry(rel: string, st: BigIntStats, chunks: Entry['chunks']): Entry {
  return { path: rel, type: 'file', mode: Number(st.mode & 0o7777n), mtimeNs: st.mtimeNs, size: Number(st.size), chunks, stat: { ino: Number(st.ino), ctimeNs: st.ctimeNs } };
}

async function readFile(abs: string, rel: string, size: number, opts: ScanOptions): Promise<Entry> {
  if (opts.pool) {
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const r = await opts.pool.chunk(abs, size).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOTFILE') throw new DsyncError('VANISHED', `${rel}: no longer a regular file; skipped`);
        throw err;
      });
      opts.onRead?.(r.size);
      if (r.stable) {
        return { path: rel, type: 'file', mode: r.st.mode, mtimeNs: r.st.mtimeNs, size: r.size, chunks: r.chunks, stat: { ino: Number(r.st.ino), ctimeNs: r.st.ctimeNs } };
      }
    }
    throw changing(rel);
  }
  // Files are described several at a time and chunkFd yields between blocks: the one shared
  // buffer must serve one file at a time.
  const buffer = (opts.buffer ??= { data: scanBuffer(opts.cutter), turn: new Limiter(1) });
  return buffer.turn.run(() => readHere(abs, rel, opts, buffer.data));
}

async function readHere(abs: string, rel: string, opts: ScanOptions, buf: Buffer): Promise<Entry> {
  for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
    // O_NONBLOCK: if the file was swapped for a FIFO since lstat, opening it must not hang.
    const fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const before = fstatSync(fd, { bigint: true });
      if (!before.isFile()) throw new DsyncError('VANISHED', `${rel}: no longer a regular file; skipped`);
      const { chunks, size } = await chunkFd(fd, opts.cutter, buf);
      opts.onRead?.(size);
      const after = fstatSync(fd, { bigint: true });
      const stable = BigInt(size) === before.size && after.size === before.size && after.mtimeNs === before.mtimeNs && after.ctimeNs === before.ctimeNs;
      if (stable) {
        return fileEntry(rel, after, chunks);
      }
    } finally {
      closeSync(fd);
    }
  }
  throw changing(rel);
}

function changing(rel: string): DsyncError {
  return new DsyncError('VANISHED', `${rel}: changed while being read (${READ_ATTEMPTS} attempts); skipped, the destination keeps its old version`);
}

export function toWarning(err: unknown, rel: string): Warning {
  if (err instanceof DsyncError) return { code: err.code, message: err.message, path: rel };
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return { code: 'VANISHED', message: `file vanished: ${rel}`, path: rel };
  if (code === 'ELOOP') return { code: 'VANISHED', message: `${rel}: became a symlink while being read; skipped`, path: rel };
  return { code: 'PARTIAL', message: fsError(err, `cannot read ${rel}`).message, path: rel };
}
