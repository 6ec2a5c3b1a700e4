import type { ChunkList } from '../chunker/chunk-list.js';

export type EntryType = 'file' | 'dir' | 'symlink';

/** One path of a tree. `path` is relative POSIX; the tree root itself is the dir entry with path ''. */
export interface Entry {
  path: string;
  type: EntryType;
  mode: number; // permission bits only (07777)
  mtimeNs: bigint;
  size: number; // files: content length; others 0
  chunks?: ChunkList; // files (on the receiver, only once asked for: see codec.ts)
  digest?: Buffer; // files received over the wire: digest of the chunk list (codec.ts)
  target?: string; // symlinks
  /** Local identity for the stat cache (never sent across sides as a reason to skip data). */
  stat?: { ino: number; ctimeNs: bigint };
}

export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;

/**
 * Why `p` is not a safe relative path inside a tree, or null if it is. It runs for every entry
 * of every manifest, so the common case costs no array and no byte count: a UTF-16 unit takes at
 * most 3 bytes of UTF-8, and only a string long enough to be over a limit has its bytes counted.
 */
export function relPathProblem(p: string): string | null {
  if (p === '') return null;
  if (p.length * 3 > MAX_PATH_BYTES && Buffer.byteLength(p) > MAX_PATH_BYTES) return 'path too long';
  if (p.includes('\0')) return 'path contains NUL';
  for (let start = 0; ; ) {
    const slash = p.indexOf('/', start);
    const end = slash < 0 ? p.length : slash;
    const len = end - start;
    const dots = len <= 2 && p.charCodeAt(start) === DOT && (len === 1 || p.charCodeAt(start + 1) === DOT);
    if (len === 0 || dots) return `bad path component '${p.slice(start, end)}'`;
    if (len * 3 > MAX_NAME_BYTES && Buffer.byteLength(p.slice(start, end)) > MAX_NAME_BYTES) return 'name too long';
    if (slash < 0) return null;
    start = slash + 1;
  }
}

const DOT = 0x2e;

/** Destination mtimes are set through a double, so equality allows for that rounding (1 us). */
export function sameMtime(a: bigint, b: bigint): boolean {
  const d = a - b;
  return d <= 1000n && d >= -1000n;
}

/**
 * A file's local identity as the stat cache sees it: while size, mtime, ctime and inode stay the
 * same, the bytes are the ones that were last read (any write moves mtime and ctime).
 */
export function statIdentity(st: { size: bigint | number; mtimeNs: bigint; ctimeNs: bigint; ino: bigint | number }): string {
  return `${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.ino}`;
}

/** The stat identity a scanned file had (see statIdentity); computed only when it is needed. */
export function entryIdentity(e: Entry): string {
  return statIdentity({ size: e.size, mtimeNs: e.mtimeNs, ctimeNs: e.stat!.ctimeNs, ino: e.stat!.ino });
}

export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

/**
 * Seconds as a double for utimes. Node hands utimes a double and the kernel gets whole
 * microseconds, truncated; aiming at the middle of the microsecond keeps the double's rounding
 * error (~0.2 us today) from tipping it into the previous one, so the result is within 1 us.
 */
export function nsToSeconds(ns: bigint): number {
  let s = ns / 1_000_000_000n;
  let r = ns % 1_000_000_000n;
  if (r < 0n) {
    r += 1_000_000_000n;
    s -= 1n;
  }
  return Number(s) + (Number(r / 1000n) + 0.5) / 1e6;
}
