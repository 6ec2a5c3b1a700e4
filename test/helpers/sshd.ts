import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const haveSshd = existsSync('/usr/sbin/sshd') && process.getuid?.() === 0;

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface LabSshd {
  dir: string;
  port: number;
  /** ssh client config defining host "lab" (key auth, pinned host key). */
  config: string;
  knownHosts: string;
  clientKey: string;
  pid: number;
  /** Pids of the per-connection sshd processes (to cut connections). */
  sessionPids(): number[];
  /** Write another client config: "lab" with some options replaced. */
  variant(name: string, overrides: Record<string, string>): string;
  stop(): Promise<void>;
}

/**
 * A throwaway OpenSSH server on 127.0.0.1 with fresh keys, like ../shared/bench/lab-sshd.sh, run in
 * the foreground (-D) so the test owns its pid and ends it.
 */
export async function startSshd(dir: string): Promise<LabSshd> {
  mkdirSync(dir, { recursive: true });
  mkdirSync('/run/sshd', { recursive: true });
  const key = (name: string) => {
    const f = path.join(dir, name);
    if (!existsSync(f)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f]);
    return f;
  };
  const hostKey = key('host_ed25519');
  const clientKey = key('client_ed25519');
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`), { mode: 0o600 });
  const port = await freePort();
  writeFileSync(
    path.join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PermitRootLogin yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'MaxStartups 64',
      'MaxSessions 64',
      'AllowTcpForwarding yes',
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `SetEnv PATH=${process.env.PATH}`,
      '',
    ].join('\n'),
  );
  const knownHosts = path.join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${readFileSync(`${hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
  const base: Record<string, string> = {
    HostName: '127.0.0.1',
    Port: String(port),
    User: os.userInfo().username,
    IdentityFile: clientKey,
    IdentitiesOnly: 'yes',
    UserKnownHostsFile: knownHosts,
    StrictHostKeyChecking: 'yes',
    ConnectTimeout: '10',
  };
  const variant = (name: string, overrides: Record<string, string>) => {
    const opts = { ...base, ...overrides };
    const file = path.join(dir, `ssh_config.${name}`);
    writeFileSync(file, `Host lab\n${Object.entries(opts).map(([k, v]) => `  ${k} ${v}`).join('\n')}\n`);
    return file;
  };
  const config = variant('default', {});
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log = (log + d).slice(-8192)));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (up) break;
    if (i > 100 || child.exitCode !== null) throw new Error(`sshd did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    dir,
    port,
    config,
    knownHosts,
    clientKey,
    pid: child.pid!,
    sessionPids: () => {
      try {
        return execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
      } catch {
        return [];
      }
    },
    variant,
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
