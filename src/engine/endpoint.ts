import { DsyncError } from '../errors/dsync-error.js';

/** One side of a run as the user wrote it: a local path, or [user@]host:path like rsync and scp. */
export interface Endpoint {
  host: string | null;
  user: string | null;
  path: string;
  /** Written with a trailing slash: a directory is meant, even if it does not exist yet. */
  dirHint: boolean;
  text: string;
}

export function parseEndpoint(text: string): Endpoint {
  if (text === '') throw new DsyncError('USAGE', 'empty path');
  // As in rsync, a colon before the first slash makes a remote path; write ./a:b for a local one.
  const m = /^(?:([^@/:]+)@)?(\[[^\]/]+\]|[^@/:]+):(.*)$/.exec(text);
  const dirHint = text.endsWith('/');
  if (!m) return { host: null, user: null, path: text, dirHint, text };
  const host = m[2]!.replace(/^\[(.*)\]$/, '$1');
  const path = m[3] === '' ? '.' : m[3]!;
  return { host, user: m[1] ?? null, path, dirHint, text };
}
