import { DsyncError } from '../errors/dsync-error.js';

/** What to do when dsync cannot be started on a remote host. */
export const REMOTE_HINT = 'install dsync there (same version) or name it with --remote-cmd';

/** How the command that was to run the agent ended, as a connection saw it. */
export interface AgentEnd {
  where: string; // the host, or "local agent"
  hint: string; // what to do when dsync is missing there
  status: number | null | undefined; // its exit status, if one came back (not the ssh client's own 255)
  stderrTail: string; // the last lines of its stderr, joined
  printed?: string; // the stream ended before the agent's mark (see protocol/banner.ts), after this text
}

/**
 * The most useful error for a stream that failed (`err`), from how the command behind it ended:
 * dsync missing there (status 127, "command not found"), a command that ended without starting the
 * agent (what it printed and its status), or the failure with the command's last words. Shared by
 * every transport that runs the agent as a command (ssh2, a child process).
 */
export function explainEnd(err: DsyncError, end: AgentEnd): DsyncError {
  if (err.code !== 'CONN_LOST' && err.code !== 'PROTOCOL') return err;
  const { where, hint, status, stderrTail: tail, printed } = end;
  const missing = (detail: string) => new DsyncError('REMOTE_MISSING', `dsync could not be started on ${where}${detail ? ` (${detail})` : ''}; ${hint}`);
  if (status === 127 || /command not found|No such file or directory/.test(tail)) return missing(tail);
  if (printed !== undefined && typeof status === 'number') {
    return missing([tail || (printed ? `it printed ${JSON.stringify(printed)}` : 'it printed nothing'), `exit status ${status}`].join(', '));
  }
  if (tail) return new DsyncError(err.code, `${err.message}: ${tail}`);
  return err;
}
