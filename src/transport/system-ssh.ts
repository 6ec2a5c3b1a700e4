import { DsyncError } from '../errors/dsync-error.js';
import { childConnection } from './child.js';
import type { Connection } from './connection.js';
import { REMOTE_HINT } from './agent-start.js';
import { classifySshStderr } from './ssh-errors.js';

/** Split a command line like a POSIX shell would for simple quoting ('...' "..." and \\). */
export function splitCommand(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let q: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (q) {
      if (ch === q) q = null;
      else if (ch === '\\' && q === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      q = ch;
      has = true;
    } else if (ch === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
    }
  }
  if (q) throw new DsyncError('USAGE', `unbalanced quote in ${JSON.stringify(s)}`);
  if (has || cur) out.push(cur);
  return out;
}

/**
 * -e/--rsh: the agent through the system's ssh client (certificates, hardware keys,
 * ControlMaster, ...), same protocol on its stdin/stdout. Without a terminal ssh must not prompt.
 */
export function systemSshConnection(rsh: string, host: string, user: string | null, o: { configFile: string | null; remoteCmd: string }): Connection {
  const [cmd, ...args] = splitCommand(rsh);
  if (!cmd) throw new DsyncError('USAGE', '--rsh needs a command');
  if (o.configFile) args.push('-F', o.configFile);
  if (!process.stdin.isTTY) args.push('-o', 'BatchMode=yes');
  if (user) args.push('-l', user);
  args.push('--', host, `${o.remoteCmd} agent`);
  // The system ssh offers no way to open more channels from here: parallel streams need --transport tcp.
  const conn = childConnection(cmd, args, host, REMOTE_HINT, ['tcp']);
  return {
    ...conn,
    async explain(err, printed) {
      const e = await conn.explain(err, printed);
      if (e.code === 'REMOTE_MISSING' && /ssh: /.test(e.message)) return classifySshStderr(e.message, host) ?? e;
      if (e.code !== 'CONN_LOST' && e.code !== 'PROTOCOL') return e;
      return classifySshStderr(e.message, host) ?? e;
    },
  };
}
