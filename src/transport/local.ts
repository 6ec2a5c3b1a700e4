import { fileURLToPath } from 'node:url';
import { childConnection } from './child.js';
import type { Connection } from './connection.js';

/** The launcher of this very installation, so the local agent always matches the client. */
export const DSYNC_BIN = fileURLToPath(new URL('../../../bin/dsync.js', import.meta.url));

export function localAgent(): Connection {
  // The agent runs under the same Node flags as the client (memory limits, profiling, ...).
  return childConnection(process.execPath, [...process.execArgv, DSYNC_BIN, 'agent'], 'local agent', 'reinstall dsync', ['socket', 'tcp']);
}
