import path from 'node:path';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { childConnection } from './child.js';
import type { Connection } from './connection.js';

/** The launcher of this very installation, so the local agent always matches the client. */
export const DSYNC_BIN = path.join(PACKAGE_ROOT, 'bin', 'dsync.js');

/** The agent of a run between local paths, under the same Node flags as the client (memory limits, profiling, ...). */
export function localAgent(execArgv = process.execArgv): Connection {
  return childConnection(process.execPath, [...execArgv, DSYNC_BIN, 'agent'], 'local agent', 'reinstall dsync', ['socket', 'tcp'], true);
}
