import { fileURLToPath } from 'node:url';
import { childConnection } from './child.js';
import type { Connection } from './connection.js';

/** The launcher of this very installation, so the local agent always matches the client. */
export const DSYNC_BIN = fileURLToPath(new URL('../../../bin/dsync.js', import.meta.url));

export function localAgent(): Connection {
  return childConnection(process.execPath, [DSYNC_BIN, 'agent'], 'local agent', 'reinstall dsync');
}
