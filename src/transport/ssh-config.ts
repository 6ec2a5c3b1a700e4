import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SSHConfig from 'ssh-config';
import { DsyncError } from '../errors/dsync-error.js';

/** Everything dsync needs to reach one host, resolved from the OpenSSH client config. */
export interface SshTarget {
  alias: string; // the name the user typed
  host: string; // HostName
  port: number;
  user: string;
  identityFiles: string[];
  identitiesOnly: boolean;
  knownHostsFiles: string[];
  hostKeyAlias: string | null;
  strictHostKeyChecking: 'yes' | 'accept-new' | 'no';
  connectTimeoutMs: number;
  proxyJump: string[]; // hops, each [user@]host[:port], nearest first
}

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

function expand(p: string, vars: { h: string; p: number; r: string; alias: string }): string {
  const home = os.homedir();
  let out = p.replace(/%([%dhnpru])/g, (_m, c: string) => {
    switch (c) {
      case '%': return '%';
      case 'd': return home;
      case 'h': return vars.h;
      case 'n': return vars.alias;
      case 'p': return String(vars.p);
      case 'r': return vars.r;
      default: return os.userInfo().username;
    }
  });
  if (out === '~' || out.startsWith('~/')) out = path.join(home, out.slice(1));
  return out;
}

function loadConfig(file: string, explicit: boolean): SSHConfig | null {
  try {
    return SSHConfig.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    if (!explicit && (err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new DsyncError('USAGE', `cannot read ssh config ${file}: ${(err as Error).message}`);
  }
}

/**
 * Resolve `[user@]alias[:port]` like `ssh` does: `configFile` (ssh -F) alone, or else
 * ~/.ssh/config then /etc/ssh/ssh_config, the first value obtained for each option winning.
 */
export function resolveSshTarget(spec: string, user: string | null, configFile: string | null): SshTarget {
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(spec);
  if (!m) throw new DsyncError('USAGE', `bad host ${JSON.stringify(spec)}`);
  const alias = m[2]!.replace(/^\[(.*)\]$/, '$1');
  const files = configFile ? [[configFile, true] as const] : [[path.join(os.homedir(), '.ssh', 'config'), false] as const, ['/etc/ssh/ssh_config', false] as const];
  const opts: Record<string, string | string[]> = {};
  for (const [file, explicit] of files) {
    const cfg = loadConfig(file, explicit);
    if (!cfg) continue;
    const computed = cfg.compute(alias, { ignoreCase: true }) as Record<string, string | string[]>;
    for (const [k, v] of Object.entries(computed)) {
      if (k === 'identityfile' || k === 'userknownhostsfile') opts[k] = [...((opts[k] as string[]) ?? []), ...(Array.isArray(v) ? v : [v])];
      else if (!(k in opts)) opts[k] = v;
    }
  }
  const one = (k: string): string | undefined => {
    const v = opts[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const host = (one('hostname') ?? alias).replace(/%h/g, alias);
  const port = Number(m[3] ?? one('port') ?? 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DsyncError('USAGE', `bad port for ${alias}`);
  const login = user ?? m[1] ?? one('user') ?? os.userInfo().username;
  const vars = { h: host, p: port, r: login, alias };
  const list = (k: string): string[] => ((opts[k] as string[] | undefined) ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);
  const explicitIds = list('identityfile').map((f) => expand(f, vars));
  const identityFiles = explicitIds.length ? explicitIds : DEFAULT_IDENTITIES.map((n) => path.join(os.homedir(), '.ssh', n)).filter((f) => existsSync(f));
  const known = list('userknownhostsfile').map((f) => expand(f, vars));
  const strict = (one('stricthostkeychecking') ?? 'ask').toLowerCase();
  const timeout = Number(one('connecttimeout'));
  const jump = one('proxyjump');
  return {
    alias,
    host,
    port,
    user: login,
    identityFiles,
    identitiesOnly: (one('identitiesonly') ?? 'no').toLowerCase() === 'yes',
    knownHostsFiles: known.length ? known : [path.join(os.homedir(), '.ssh', 'known_hosts'), path.join(os.homedir(), '.ssh', 'known_hosts2')],
    hostKeyAlias: one('hostkeyalias') ?? null,
    // "ask" has nobody to ask when dsync runs from cron or CI: it refuses like "yes".
    strictHostKeyChecking: strict === 'accept-new' ? 'accept-new' : strict === 'no' || strict === 'off' ? 'no' : 'yes',
    connectTimeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout * 1000 : DEFAULT_CONNECT_TIMEOUT_MS,
    proxyJump: jump && jump.toLowerCase() !== 'none' ? jump.split(',').map((s) => s.trim()).filter(Boolean) : [],
  };
}
