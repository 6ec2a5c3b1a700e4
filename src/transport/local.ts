import path from 'node:path';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { childConnection } from './child.js';
import type { Connection } from './connection.js';

/** The launcher of this very installation, so the local agent always matches the client. */
export const DSYNC_BIN = path.join(PACKAGE_ROOT, 'bin', 'dsync.js');

export function localAgent(): Connection {
  // The agent runs under the same Node flags as the client (memory limits, profiling, ...).
  return childConnection(process.execPath, [...process.execArgv, DSYNC_BIN, 'agent'], 'local agent', 'reinstall dsync', ['socket', 'tcp']);
}
