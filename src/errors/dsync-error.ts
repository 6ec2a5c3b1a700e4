import { EXIT, type ErrorCode } from './exit-codes.js';

/** An error meant for the user: a one-line message that names the file or host and what to do. */
export class DsyncError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'DsyncError';
    this.code = code;
  }

  get exitCode(): number {
    return EXIT[this.code];
  }
}

/** Map a Node.js filesystem error to a DsyncError with a readable message about `what`. */
export function fsError(err: unknown, what: string, code: ErrorCode = 'FILE_IO'): DsyncError {
  if (err instanceof DsyncError) return err;
  const e = err as NodeJS.ErrnoException;
  const reason: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOSPC: 'no space left on device',
    EDQUOT: 'disk quota exceeded',
    EROFS: 'read-only file system',
    ENOTDIR: 'a parent is not a directory',
    EISDIR: 'is a directory',
    EIO: 'input/output error',
  };
  const why = (e && e.code && reason[e.code]) || (e && e.message) || String(err);
  return new DsyncError(code, `${what}: ${why}`);
}

export function toDsyncError(err: unknown): DsyncError {
  if (err instanceof DsyncError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.syscall === 'string') {
    return fsError(err, `${e.syscall} ${e.path ?? ''}`.trim());
  }
  // A bug: one line for the user; DSYNC_DEBUG=1 shows where it happened.
  const detail = process.env.DSYNC_DEBUG ? (e?.stack ?? String(err)) : (e?.message ?? String(err));
  return new DsyncError('INTERNAL', `internal error (please report it): ${detail}`);
}
