import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { DsyncError } from '../errors/dsync-error.js';
import { within } from '../util/timeout.js';
import { connectDirect, type Connection, type StreamKind } from './connection.js';
import { explainEnd } from './agent-start.js';

/** The exit status of ssh itself failing (not the remote command). */
const sshFailedStatus = 255;

const STDERR_KEEP = 16 * 1024;

/**
 * A dsync agent in a child process speaking the protocol on its stdin/stdout: the local agent, or
 * `ssh host dsync agent` for -e/--rsh. The tail of its stderr explains failures. Data streams are
 * reached directly: the local agent's socket, or a remote agent's TCP port.
 * With `ownFd` (an agent run by node here, not a remote command) the agent answers on descriptor 3
 * instead, told so with --protocol-fd, and its stdout goes to this process's stderr: what Node
 * itself prints there (--trace-gc and other flags the agent inherits) cannot corrupt the stream.
 */
export function childConnection(command: string, args: string[], label: string, missingHint: string, streamTargets: StreamKind[], ownFd = false): Connection {
  const child: ChildProcess = ownFd
    ? spawn(command, [...args, '--protocol-fd', '3'], { stdio: ['pipe', 2, 'pipe', 'pipe'], env: agentEnv(process.env) })
    : spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-STDERR_KEEP);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  // EPIPE on a dead child surfaces through the protocol as a lost connection.
  child.stdin!.on('error', () => {});

  return {
    input: (ownFd ? child.stdio[3] : child.stdout) as Readable,
    output: child.stdin!,
    label,
    streamTargets,
    openStream: connectDirect,
    onLost(cb) {
      child.on('exit', () => cb(new Error(`${label} exited`)));
    },
    async explain(err, printed) {
      if (err.code !== 'CONN_LOST' && err.code !== 'PROTOCOL') return err;
      const res = await within(exited, 2000);
      if (res?.error) return new DsyncError('REMOTE_MISSING', `cannot start ${command}: ${res.error.message}`);
      // 255 is ssh's own failure (-e ssh), explained by its stderr, not a status of the agent's command.
      const status = res?.code === sshFailedStatus ? null : res?.code;
      return explainEnd(err, { where: label, hint: missingHint, status, stderrTail: stderr.trim().split('\n').slice(-3).join(' / '), printed });
    },
    async close() {
      if (!child.stdin!.destroyed) child.stdin!.end();
      const done = await within(exited, 5000);
      if (!done && child.pid) child.kill('SIGKILL');
    },
  };
}

/**
 * The environment of an agent run by node here: this process's, without NODE_EXTRA_CA_CERTS. Node
 * reads that bundle of certificates at every start, before any code runs (34 ms on the
 * development machine, which sets it), and an agent makes no TLS connection.
 */
export function agentEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _, ...rest } = env;
  return rest;
}
