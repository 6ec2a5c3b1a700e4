/**
 * The one exit-code table. Numbers follow rsync where rsync has a matching meaning, and are stable
 * across versions: scripts and CI pipelines branch on them. README.md documents the same table.
 */
export const EXIT = {
  OK: 0,
  USAGE: 1, // bad command line or option value
  PROTOCOL_VERSION: 2, // the other side speaks an incompatible dsync protocol
  SOURCE: 3, // source missing, unreadable, or an invalid source/destination pair
  DEST_NOT_WRITABLE: 4, // destination (or its parent) cannot be created or written
  REMOTE_MISSING: 5, // dsync could not be started on the remote host
  CONN_REFUSED: 10, // the host refused or could not be reached
  FILE_IO: 11, // reading or writing local files failed (disk full, permissions)
  PROTOCOL: 12, // malformed, corrupted or unexpected data from the other side
  CONN_LOST: 13, // the connection dropped in the middle of a run
  HOST_NOT_FOUND: 14, // DNS could not resolve the host
  INTERRUPTED: 20, // SIGINT or SIGTERM
  PARTIAL: 23, // some files were not transferred because of errors
  VANISHED: 24, // some source files vanished or kept changing while being read
  TIMEOUT: 30, // connecting or waiting for the peer timed out
  AUTH: 40, // SSH authentication failed
  HOSTKEY_UNKNOWN: 41, // the host key is not in known_hosts
  HOSTKEY_CHANGED: 42, // the host key differs from the one in known_hosts
  VERIFY_MISMATCH: 50, // `dsync verify` found differences
  LOCKED: 51, // another dsync run holds the destination lock
  INTERNAL: 70, // a bug in dsync
} as const;

export type ErrorCode = Exclude<keyof typeof EXIT, 'OK'>;

export function isErrorCode(s: string): s is ErrorCode {
  return s !== 'OK' && Object.prototype.hasOwnProperty.call(EXIT, s);
}
