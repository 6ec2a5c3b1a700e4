import { createHash } from 'node:crypto';
import { ChunkList, HASH_LEN } from '../chunker/chunk-list.js';
import { LIMITS, validateParams, type ChunkParams } from '../chunker/params.js';
import { Reader, Writer } from '../util/binary.js';
import { MAX_PATH_BYTES, relPathProblem, type Entry, type EntryType } from './entry.js';

/**
 * Binary manifest encoding, version 2. One codec serves the wire and the stat cache file (header +
 * entries + end marker + SHA-256 trailer, see stat-cache.ts), in two forms:
 *
 *   entry := type:u8 path:str mode:uvar mtime_s:svar mtime_ns:uvar [cache: ino:uvar ctime_s:svar ctime_ns:uvar]
 *            file, cache form: size:uvar chunklist digest:16      file, wire form: size:uvar digest:16
 *            file announced unread (type 4): size:uvar
 *            symlink: target:str
 *   chunklist := count:uvar len:uvar{count} hash:32{count}      (a chunk costs 32 + 1..3 bytes)
 *
 * The hashes of a list lie back to back, so a list decodes with one copy, not one per chunk; the
 * cache keeps each file's digest, so an unchanged file costs no hashing to announce or compare.
 *
 * On the wire a file is announced by the digest of its chunk list; the receiver asks for the list
 * itself only when its own copy's digest differs, so an unchanged file costs ~25 bytes, not ~35 a chunk.
 * The digest is SHA-256 cut to 128 bits (like rsync's whole-file checksum): random bytes that no
 * compressor shrinks, sent for every file on every run, and 128 bits leave no practical chance
 * that two different chunk lists collide.
 *
 * A file the sender has not read yet (see unhashed() and scan.ts) is announced by size and mtime
 * alone, with type code 4: the receiver takes it as unchanged when its own copy has the same size
 * and mtime (rsync's quick check), and asks for its chunk list otherwise, which the sender then
 * computes. The sender's cache keeps such a file the same way, to tell later whether it moved.
 */
export type EntryForm = 'cache' | 'wire';
export const MANIFEST_VERSION = 2;
const TYPE_CODE: Record<EntryType, number> = { file: 1, dir: 2, symlink: 3 };
const CODE_TYPE: Record<number, EntryType> = { 1: 'file', 2: 'dir', 3: 'symlink', 4: 'file' };
const UNHASHED_FILE = 4;

/** A file announced without reading it: neither its chunk list nor its digest is known yet. */
export function unhashed(e: Entry): boolean {
  return e.type === 'file' && !e.chunks && !e.digest;
}
export const END_MARKER = 0;
const NS = 1_000_000_000n;
const MAX_SIZE = 2 ** 52;

function putTime(w: Writer, ns: bigint): void {
  let s = ns / NS;
  let r = ns % NS;
  if (r < 0n) {
    r += NS;
    s -= 1n;
  }
  w.svar(Number(s)).uvar(Number(r));
}

function getTime(r: Reader): bigint {
  const s = r.svar();
  const n = r.uvar(999_999_999);
  return BigInt(s) * NS + BigInt(n);
}

export function encodeEntry(w: Writer, e: Entry, form: EntryForm): void {
  const bare = unhashed(e);
  w.u8(bare ? UNHASHED_FILE : TYPE_CODE[e.type]).str(e.path).uvar(e.mode);
  putTime(w, e.mtimeNs);
  if (form === 'cache') {
    w.uvar(e.stat?.ino ?? 0);
    putTime(w, e.stat?.ctimeNs ?? 0n);
  }
  if (e.type === 'file') {
    w.uvar(e.size);
    if (bare) return;
    if (form === 'cache') encodeChunkList(w, e.chunks!);
    w.raw(fileDigest(e));
  } else if (e.type === 'symlink') {
    w.str(e.target!);
  }
}

export function encodeChunkList(w: Writer, c: ChunkList): void {
  w.uvar(c.count);
  for (let i = 0; i < c.count; i++) w.uvar(c.lengths[i]!);
  w.raw(c.hashes);
}

/** Decode a chunk list that must describe exactly `size` bytes in chunks allowed by `params`. */
export function decodeChunkList(r: Reader, size: number, params: ChunkParams, arena?: ListArena): ChunkList {
  const count = r.uvar(Math.floor(r.remaining / (HASH_LEN + 1)));
  if (count > Math.ceil(size / params.min) + 1) r.fail(`too many chunks (${count}) for ${size} bytes`);
  const lengths = arena ? arena.lengths(count) : new Uint32Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const len = r.uvar(params.max);
    if (len === 0 || (len < params.min && i < count - 1)) r.fail(`bad chunk length ${len}`);
    lengths[i] = len;
    total += len;
  }
  if (total !== size) r.fail(`chunk lengths add up to ${total}, not the file size ${size}`);
  // A copy where the list outlives the frame it came in; a view of a buffer that outlives it.
  const hashes = r.raw(count * HASH_LEN);
  return count ? new ChunkList(arena ? hashes : Buffer.from(hashes), lengths) : ChunkList.EMPTY;
}

/**
 * For lists decoded from a buffer kept as long as they are (a stat cache file, held for the run):
 * their hashes and digests are views of it, and their lengths share blocks, instead of an
 * allocation or two each (a cache of 6000 files: 5 loads took 600 ms of CPU, 380 ms without them,
 * most of the difference in Buffer creation and garbage collection).
 */
export class ListArena {
  private block = new Uint32Array(0);
  private used = 0;

  lengths(n: number): Uint32Array {
    if (this.used + n > this.block.length) {
      this.block = new Uint32Array(Math.max(n, 1 << 14));
      this.used = 0;
    }
    this.used += n;
    return this.block.subarray(this.used - n, this.used);
  }
}

/** Bytes of a file digest (see above). */
export const DIGEST_LEN = 16;
/** SHA-256 over a file's chunk list, cut to DIGEST_LEN: equal digests, equal content. */
export function fileDigest(e: Entry): Buffer {
  if (!e.chunks) return e.digest!;
  const c = e.chunks;
  if (!c.digest) {
    const lens = Buffer.from(c.lengths.buffer, c.lengths.byteOffset, c.lengths.byteLength);
    c.digest = createHash('sha256').update(c.hashes).update(lens).digest().subarray(0, DIGEST_LEN);
  }
  return c.digest;
}

/** Decode one entry; every field is validated against `params` and the remaining input. */
export function decodeEntry(r: Reader, params: ChunkParams, form: EntryForm, arena?: ListArena): Entry {
  const code = r.u8();
  const type = CODE_TYPE[code];
  if (!type) r.fail(`unknown entry type ${code}`);
  const path = r.str(MAX_PATH_BYTES);
  const problem = relPathProblem(path);
  if (problem) r.fail(`${problem}: ${JSON.stringify(path)}`);
  if (path === '' && type !== 'dir') r.fail('root entry must be a directory');
  const mode = r.uvar(0o7777);
  const mtimeNs = getTime(r);
  const e: Entry = { path, type, mode, mtimeNs, size: 0 };
  if (form === 'cache') {
    const ino = r.uvar();
    e.stat = { ino, ctimeNs: getTime(r) };
  }
  if (type === 'file') {
    e.size = r.uvar(MAX_SIZE);
    if (code === UNHASHED_FILE) return e;
    if (form === 'cache') {
      e.chunks = decodeChunkList(r, e.size, params, arena);
      const digest = r.raw(DIGEST_LEN);
      e.chunks.digest = arena ? digest : Buffer.from(digest);
    } else {
      e.digest = Buffer.from(r.raw(DIGEST_LEN));
    }
  } else if (type === 'symlink') {
    e.target = r.str(MAX_PATH_BYTES);
    if (e.target === '' || e.target.includes('\0')) r.fail('bad symlink target');
  }
  return e;
}

export function encodeParams(w: Writer, p: ChunkParams): void {
  w.uvar(p.min).uvar(p.avg).uvar(p.max);
}

export function decodeParams(r: Reader): ChunkParams {
  const p = { min: r.uvar(LIMITS.maxMax), avg: r.uvar(LIMITS.maxMax), max: r.uvar(LIMITS.maxMax) };
  try {
    return validateParams(p);
  } catch (err) {
    return r.fail((err as Error).message);
  }
}
