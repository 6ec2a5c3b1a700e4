import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import type { Warning } from '../engine/events.js';
import { fsError } from '../errors/dsync-error.js';

export interface WalkItem {
  rel: string; // relative POSIX path
  abs: string;
  st: BigIntStats; // lstat: symlinks are never followed
}

export interface WalkOptions {
  /** Return true to leave a path (and, for a directory, everything below it) out of the walk. */
  exclude?: (rel: string, isDir: boolean) => boolean;
  onWarning: (w: Warning) => void;
}

/**
 * Pre-order walk of a directory tree: a directory comes before its contents, siblings in name order,
 * so every run and every machine lists the same tree the same way. Symlinks are listed, not followed.
 * Names that are not valid UTF-8 and special files (sockets, devices, FIFOs) are skipped with a warning.
 * Synchronous: for a tree in the page cache a metadata call takes microseconds, far less than a
 * thread-pool round trip (or even a promise) each.
 */
export function* walkTree(root: string, opts: WalkOptions): Generator<WalkItem> {
  const st = lstatSync(root, { bigint: true });
  yield { rel: '', abs: root, st };
  yield* walkDir(root, '', opts);
}

function* walkDir(abs: string, rel: string, opts: WalkOptions): Generator<WalkItem> {
  let decoded: string[];
  try {
    decoded = readdirSync(abs);
    // A name that is not valid UTF-8 decodes with U+FFFD: only then are the raw bytes looked at.
    if (decoded.some((n) => n.includes('\uFFFD'))) decoded = validNames(readdirSync(abs, { encoding: 'buffer' }), rel, opts);
  } catch (err) {
    opts.onWarning({ code: 'PARTIAL', path: rel, message: fsError(err, `cannot list ${rel || '.'}`).message });
    return;
  }
  decoded.sort();
  for (const name of decoded) {
    const childRel = rel ? `${rel}/${name}` : name;
    const childAbs = `${abs}/${name}`; // abs is already normal, and name a plain name
    let st: BigIntStats;
    try {
      st = lstatSync(childAbs, { bigint: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        opts.onWarning({ code: 'VANISHED', path: childRel, message: `file vanished: ${childRel}` });
      } else {
        opts.onWarning({ code: 'PARTIAL', path: childRel, message: fsError(err, `cannot stat ${childRel}`).message });
      }
      continue;
    }
    const isDir = st.isDirectory();
    if (opts.exclude?.(childRel, isDir)) continue;
    if (!isDir && !st.isFile() && !st.isSymbolicLink()) {
      opts.onWarning({ code: 'PARTIAL', path: childRel, message: `skipping special file ${childRel}` });
      continue;
    }
    yield { rel: childRel, abs: childAbs, st };
    if (isDir) yield* walkDir(childAbs, childRel, opts);
  }
}

function validNames(names: Buffer[], rel: string, opts: WalkOptions): string[] {
  const valid: string[] = [];
  for (const raw of names) {
    const name = raw.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(raw)) {
      opts.onWarning({ code: 'PARTIAL', path: rel, message: `skipping a name that is not valid UTF-8 in ${rel || '.'}: ${JSON.stringify(raw.toString('latin1'))}` });
      continue;
    }
    valid.push(name);
  }
  return valid;
}
