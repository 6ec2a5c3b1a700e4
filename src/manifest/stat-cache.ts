import { createHash } from 'node:crypto';
import { promises as fsp, readFileSync, type BigIntStats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChunkList } from '../chunker/chunk-list.js';
import { paramsEqual, type ChunkParams } from '../chunker/params.js';
import { Reader, Writer } from '../util/binary.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { ContentIndex } from './content-index.js';
import { decodeEntry, decodeParams, ListArena, encodeEntry, encodeParams, END_MARKER, MANIFEST_VERSION } from './codec.js';
import type { Entry } from './entry.js';
import { mkdirp } from '../util/mkdirp.js';

const MAGIC = Buffer.from('DSYC');

/**
 * Cache files of trees not synced for this long are removed: every tree ever synced has one (~1 MB
 * for 6000 files), and a CI job that stages into a fresh directory each time would pile them up.
 */
export const CACHE_MAX_AGE_MS = 30 * 86_400_000;
/** The cache directory is looked through for old files at most this often. */
export const PRUNE_EVERY_MS = 86_400_000;
const PRUNED_MARK = 'last-prune';

/**
 * Per-tree cache of file chunk lists, keyed by path and validated by the file's local identity
 * (size, mtime, inode, ctime), so an unchanged file is not read again. It only ever vouches for a
 * file on the machine that wrote it; equality across sides is always decided by chunk hashes.
 */
export class StatCache {
  private constructor(
    private readonly entries: Map<string, Entry>,
    private readonly loaded: { file: string; bytes: Buffer } | null = null,
  ) {}

  static empty(): StatCache {
    return new StatCache(new Map());
  }

  /** Load the cache of tree `root`; a missing, stale or corrupt cache is just empty. */
  static async load(root: string, params: ChunkParams): Promise<StatCache> {
    const file = cacheFileFor(root, params);
    let data: Buffer;
    try {
      data = readFileSync(file); // ~1 MB from the page cache: less than the pool's four round trips
    } catch {
      return StatCache.empty();
    }
    try {
      return new StatCache(decodeCache(data, params), { file, bytes: data });
    } catch {
      return StatCache.empty();
    }
  }

  /** The file at `rel` as the last scan left it (it may have changed since). */
  entry(rel: string): Entry | undefined {
    return this.entries.get(rel);
  }

  /** The files the last scan saw, by content. */
  readonly content = new ContentIndex(() => this.entries.values());

  /**
   * What the last scan knew of file `rel`, if it is still that file (same size, mtime, ctime and
   * inode): its chunk list, or 'unread' for a file announced unread (scan.ts, quickCheck).
   * 'unknown' for a path the last scan had no file at, 'moved' for one that changed since.
   */
  lookup(rel: string, st: BigIntStats): ChunkList | 'unread' | 'unknown' | 'moved' {
    const e = this.entries.get(rel);
    if (!e || e.type !== 'file' || !e.stat) return 'unknown';
    if (e.size !== Number(st.size) || e.mtimeNs !== st.mtimeNs || e.stat.ino !== Number(st.ino) || e.stat.ctimeNs !== st.ctimeNs) {
      return 'moved';
    }
    return e.chunks ?? 'unread';
  }

  /**
   * Write the cache of tree `root`, unless it would hold exactly what was loaded (a run that
   * changed nothing there, e.g. every night's run on the source side, writes nothing); then let
   * the cache directory go of trees not synced for a month.
   */
  async save(root: string, params: ChunkParams, entries: Iterable<Entry>): Promise<void> {
    const file = cacheFileFor(root, params);
    await this.write(file, params, [...entries].filter(isCached));
    await pruneCaches(path.dirname(file));
  }

  private async write(file: string, params: ChunkParams, cached: Entry[]): Promise<void> {
    // Unchanged, it is not written again, but its age counts from this run (see pruneCaches).
    const same = this.loaded?.file === file;
    if (same && this.sameAsLoaded(cached)) return touchIfOlder(file, PRUNE_EVERY_MS);
    const bytes = encodeCache(params, cached);
    if (same && this.loaded?.bytes.equals(bytes)) return touchIfOlder(file, PRUNE_EVERY_MS);
    await mkdirp(path.dirname(file));
    await writeFileAtomic(file, bytes);
  }

  /**
   * Whether `entries` would encode to the very bytes loaded, told without encoding them (20-40 ms
   * for a large tree): the same files in the same order, each with every encoded field equal and
   * the same chunk list object, whose digest came from the loaded file too.
   */
  private sameAsLoaded(entries: Entry[]): boolean {
    if (entries.length !== this.entries.size) return false;
    let i = 0;
    for (const l of this.entries.values()) {
      const e = entries[i++]!;
      if (e.path !== l.path || e.chunks !== l.chunks || e.mode !== l.mode || e.mtimeNs !== l.mtimeNs || e.size !== l.size) return false;
      if (e.stat!.ino !== l.stat!.ino || e.stat!.ctimeNs !== l.stat!.ctimeNs) return false;
    }
    return true;
  }
}

function isCached(e: Entry): boolean {
  return e.type === 'file' && e.stat !== undefined;
}

export function encodeCache(params: ChunkParams, entries: Iterable<Entry>): Buffer {
  const w = new Writer(1 << 16);
  w.raw(MAGIC).u8(MANIFEST_VERSION);
  encodeParams(w, params);
  for (const e of entries) if (isCached(e)) encodeEntry(w, e, 'cache');
  w.u8(END_MARKER);
  const body = w.finish();
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

export function decodeCache(data: Buffer, params: ChunkParams): Map<string, Entry> {
  const body = data.subarray(0, data.length - 32);
  const r = new Reader(body, 'stat cache');
  if (data.length < 32 || !createHash('sha256').update(body).digest().equals(data.subarray(body.length))) {
    r.fail('checksum mismatch');
  }
  if (!r.raw(4).equals(MAGIC) || r.u8() !== MANIFEST_VERSION) r.fail('not a dsync cache');
  if (!paramsEqual(decodeParams(r), params)) r.fail('different chunk parameters');
  const map = new Map<string, Entry>();
  const arena = new ListArena(); // lists are views of `data`, which nothing writes to
  while (r.buf[r.pos] !== END_MARKER) {
    const e = decodeEntry(r, params, 'cache', arena);
    map.set(e.path, e);
  }
  r.u8();
  r.end();
  return map;
}

/** Set `file`'s mtime to now if it is older than `ms` (once a day is enough to date its last use). */
async function touchIfOlder(file: string, ms: number): Promise<void> {
  const now = new Date();
  try {
    if (now.getTime() - (await fsp.stat(file)).mtimeMs > ms) await fsp.utimes(file, now, now);
  } catch {
    // a hint only
  }
}

/**
 * Remove the cache files of `dir` (and temporary files of interrupted writes) last used more than
 * CACHE_MAX_AGE_MS ago; at most once every PRUNE_EVERY_MS, told by the mtime of a mark file.
 * Best effort: another process may be pruning too.
 */
async function pruneCaches(dir: string): Promise<void> {
  const mark = path.join(dir, PRUNED_MARK);
  const now = Date.now();
  try {
    if (now - (await fsp.stat(mark)).mtimeMs < PRUNE_EVERY_MS) return;
  } catch {
    // never pruned here
  }
  try {
    await fsp.writeFile(mark, '');
    for (const name of await fsp.readdir(dir)) {
      if (!name.startsWith('tree-')) continue;
      const file = path.join(dir, name);
      const st = await fsp.lstat(file).catch(() => null);
      if (st?.isFile() && now - st.mtimeMs > CACHE_MAX_AGE_MS) await fsp.rm(file, { force: true });
    }
  } catch {
    // the cache directory is a hint too
  }
}

export function cacheDir(): string {
  if (process.env.DSYNC_CACHE_DIR) return process.env.DSYNC_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'dsync');
}

export function cacheFileFor(root: string, params: ChunkParams): string {
  const id = createHash('sha256').update(`${root}\0${params.min}/${params.avg}/${params.max}`).digest('hex').slice(0, 24);
  return path.join(cacheDir(), `tree-${id}.cache`);
}
