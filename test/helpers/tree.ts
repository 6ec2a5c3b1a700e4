import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export interface Node {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeUs?: bigint; // files and directories
  sha?: string;
  target?: string;
}

/** Everything sync promises to carry over, per relative path: type, content, mode, mtime (us), link target. */
export function snapshot(root: string, withDirTimes = true): Map<string, Node> {
  const out = new Map<string, Node>();
  const walk = (rel: string) => {
    const abs = rel ? path.join(root, rel) : root;
    const st = lstatSync(abs, { bigint: true });
    const mode = Number(st.mode & 0o7777n);
    if (st.isSymbolicLink()) {
      out.set(rel, { type: 'symlink', mode: 0, target: readlinkSync(abs) });
    } else if (st.isDirectory()) {
      if (rel) out.set(rel, { type: 'dir', mode, ...(withDirTimes ? { mtimeUs: st.mtimeNs / 1000n } : {}) });
      for (const n of readdirSync(abs).sort()) walk(rel ? `${rel}/${n}` : n);
    } else {
      out.set(rel, { type: 'file', mode, mtimeUs: st.mtimeNs / 1000n, sha: createHash('sha256').update(readFileSync(abs)).digest('hex') });
    }
  };
  walk('');
  return out;
}

/** Paths whose snapshot differs between two trees (empty when they are equal). */
export function treeDiff(a: string, b: string, withDirTimes = true): string[] {
  const sa = snapshot(a, withDirTimes);
  const sb = snapshot(b, withDirTimes);
  const diffs: string[] = [];
  for (const [k, v] of sa) {
    const w = sb.get(k);
    if (!w) diffs.push(`missing ${k}`);
    else if (JSON.stringify(v, big) !== JSON.stringify(w, big)) diffs.push(`differs ${k}: ${JSON.stringify(v, big)} vs ${JSON.stringify(w, big)}`);
  }
  for (const k of sb.keys()) if (!sa.has(k)) diffs.push(`extra ${k}`);
  return diffs;
}

function big(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
