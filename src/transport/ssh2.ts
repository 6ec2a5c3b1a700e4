import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { AuthMethod, ClientChannel } from 'ssh2';
import { DsyncError } from '../errors/dsync-error.js';
import { within } from '../util/timeout.js';
import { connectCoalescing } from './coalescing-socket.js';
import { connectDirect, type Connection } from './connection.js';
import { appendKnownHost, checkHostKey, fingerprint, hostKeyName, knownKeyTypes } from './known-hosts.js';
import { resolveSshTarget, type SshTarget } from './ssh-config.js';
import { explainEnd, REMOTE_HINT } from './agent-start.js';
import { sshFailure } from './ssh-errors.js';
import { loadSsh2, type Ssh2 } from './ssh2-loader.js';

export interface SshOptions {
  configFile: string | null;
  remoteCmd: string;
  acceptNewHostKey: boolean;
}

type Client = InstanceType<Ssh2['Client']>;

/** Host-key algorithm names to prefer for each key type found in known_hosts. */
const ALGOS_FOR_TYPE: Record<string, string[]> = {
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/**
 * `dsync agent` on a remote host over the ssh2 library: OpenSSH config, agent and identity-file
 * authentication, strict known_hosts checking and ProxyJump, then an exec channel as the stream.
 */
export async function ssh2Connection(host: string, user: string | null, o: SshOptions): Promise<Connection> {
  const target = resolveSshTarget(host, user, o.configFile);
  const clients: Client[] = [];
  const endAll = () => clients.forEach((c) => c.end());
  try {
    let sock: Duplex | undefined;
    const hops = target.proxyJump.map((h) => resolveSshTarget(h, null, o.configFile));
    for (let i = 0; i < hops.length; i++) {
      const c = await openClient(hops[i]!, sock, o);
      clients.push(c);
      sock = await forward(c, hops[i]!, hops[i + 1] ?? target);
    }
    const client = await openClient(target, sock, o);
    clients.push(client);
    const chan = await execAgent(client, `${o.remoteCmd} agent`, target);
    return channelConnection(chan, target, clients, endAll);
  } catch (err) {
    endAll();
    throw err;
  }
}

/** From a jump host, open the TCP path to the next hop (or the target itself). */
function forward(c: Client, jump: SshTarget, next: SshTarget): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    c.forwardOut('127.0.0.1', 0, next.host, next.port, (err, stream) => {
      if (err) reject(sshFailure.unreachable(`${next.host}:${next.port} through jump host ${jump.alias}`, err.message));
      else resolve(stream);
    });
  });
}

function loadIdentities(t: SshTarget, parseKey: Ssh2['parseKey']): { methods: AuthMethod[]; skipped: string[] } {
  const methods: AuthMethod[] = [];
  const skipped: string[] = [];
  const agent = process.env.SSH_AUTH_SOCK;
  if (agent && !t.identitiesOnly) methods.push({ type: 'agent', username: t.user, agent } as AuthMethod);
  for (const file of t.identityFiles) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      continue; // a configured identity that does not exist is skipped, as by ssh
    }
    const key = parseKey(data);
    if (key instanceof Error) {
      skipped.push(/encrypted|passphrase/i.test(key.message) ? `${file} is encrypted: load it with ssh-add or use -e ssh` : `${file}: ${key.message}`);
      continue;
    }
    methods.push({ type: 'publickey', username: t.user, key } as AuthMethod);
  }
  // With IdentitiesOnly the agent may still hold the configured keys; it is tried last.
  if (agent && t.identitiesOnly) methods.push({ type: 'agent', username: t.user, agent } as AuthMethod);
  return { methods, skipped };
}

function openClient(t: SshTarget, sock: Duplex | undefined, o: SshOptions): Promise<Client> {
  const where = `${t.host}:${t.port}`;
  const name = hostKeyName(t.hostKeyAlias ?? t.host, t.port);
  // A direct connection gets a socket that batches ssh2's many small writes. It is asked for
  // before ssh2 loads: the TCP handshake and sshd's start on the far side go on meanwhile.
  const socket = sock ?? connectCoalescing(t.host, t.port);
  const { Client, parseKey } = loadSsh2();
  const { methods, skipped } = loadIdentities(t, parseKey);
  if (methods.length === 0) {
    socket.destroy();
    return Promise.reject(sshFailure.auth(`${t.user}@${t.alias}`, skipped.join('; ') || 'no ssh-agent (SSH_AUTH_SOCK) and no identity file'));
  }
  const preferred = knownKeyTypes(t.knownHostsFiles, name).flatMap((k) => ALGOS_FOR_TYPE[k] ?? [k]);
  return new Promise((resolve, reject) => {
    const c = new Client();
    let hostProblem: DsyncError | null = null;
    let settled = false;
    c.on('ready', () => {
      settled = true;
      resolve(c);
    });
    c.on('error', (err: Error & { level?: string; code?: string }) => {
      if (settled) return; // after connecting, failures surface as a closed channel
      settled = true;
      reject(hostProblem ?? classify(err, t, where, skipped));
    });
    c.connect({
      host: t.host,
      port: t.port,
      sock: socket,
      username: t.user,
      readyTimeout: t.connectTimeoutMs,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      authHandler: methods,
      algorithms: preferred.length ? { serverHostKey: { prepend: preferred } as never } : undefined,
      hostVerifier: (key: Buffer) => {
        const files = t.knownHostsFiles.join(', ');
        const status = checkHostKey(t.knownHostsFiles, name, key);
        if (status === 'match') return true;
        if (status === 'unknown' && (o.acceptNewHostKey || t.strictHostKeyChecking !== 'yes')) {
          appendKnownHost(t.knownHostsFiles[0]!, name, key);
          return true;
        }
        hostProblem = status === 'unknown' ? sshFailure.hostKeyUnknown(name, fingerprint(key), files) : sshFailure.hostKeyChanged(name, fingerprint(key), files);
        return false;
      },
    });
  });
}

function classify(err: Error & { level?: string; code?: string }, t: SshTarget, where: string, skipped: string[]): DsyncError {
  if (err.level === 'client-authentication') return sshFailure.auth(`${t.user}@${t.alias}`, skipped.join('; '));
  if (err.level === 'client-timeout' || err.code === 'ETIMEDOUT') return sshFailure.timeout(where, t.connectTimeoutMs / 1000);
  switch (err.code) {
    case 'ECONNREFUSED':
      return sshFailure.refused(where);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return sshFailure.notFound(t.host);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return sshFailure.unreachable(where, err.message);
  }
  return new DsyncError('CONN_LOST', `SSH connection to ${where} failed: ${err.message}`);
}

function execAgent(c: Client, cmd: string, t: SshTarget): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    c.exec(cmd, (err, chan) => {
      if (err) reject(new DsyncError('REMOTE_MISSING', `cannot run ${cmd} on ${t.alias}: ${err.message}`));
      else resolve(chan);
    });
  });
}

function channelConnection(chan: ClientChannel, t: SshTarget, clients: Client[], endAll: () => void): Connection {
  let stderr = '';
  chan.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-16 * 1024);
  });
  const exited = new Promise<number | null>((resolve) => {
    chan.on('exit', (code: number | null) => resolve(code));
    chan.on('close', () => resolve(null));
  });
  chan.on('error', () => {}); // surfaces through the protocol as a lost connection
  const client = clients[clients.length - 1]!;
  return {
    input: chan,
    output: chan,
    label: t.alias,
    streamTargets: ['socket', 'tcp'],
    openStream(target) {
      if (!('socket' in target)) return connectDirect(target);
      // One more channel on the same connection: its own flow-control window (2 MiB at sshd).
      return new Promise((resolve, reject) => {
        client.openssh_forwardOutStreamLocal(target.socket, (err, stream) => (err ? reject(err) : resolve(stream)));
      });
    },
    onLost(cb) {
      // ssh2 channels never emit 'close' on their own when the connection under them dies.
      for (const c of clients) {
        c.on('close', () => cb(new Error('SSH connection closed')));
        c.on('error', (err: Error) => cb(err));
      }
    },
    async explain(err, printed) {
      if (err.code !== 'CONN_LOST' && err.code !== 'PROTOCOL') return err;
      const status = await within(exited, 2000);
      return explainEnd(err, { where: t.alias, hint: REMOTE_HINT, status, stderrTail: stderr.trim().split('\n').slice(-3).join(' / '), printed });
    },
    async close(finished) {
      chan.end();
      // Otherwise the agent's exit is waited for: it may still hold the destination's lock.
      if (!finished) await within(exited, 5000);
      endAll();
    },
  };
}
