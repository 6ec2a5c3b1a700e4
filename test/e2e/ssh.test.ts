import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, events, runCli, scratch, summary, why } from '../helpers/cli.js';
import { makeDataset } from '../helpers/dataset.js';
import { freePort, haveSshd, startSshd, type LabSshd } from '../helpers/sshd.js';
import { treeDiff } from '../helpers/tree.js';

const REMOTE = `${process.execPath} ${BIN}`;
const haveUnshare = (() => {
  try {
    execFileSync('unshare', ['-n', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!haveSshd)('sync over SSH against a real OpenSSH server', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  let lab: LabSshd;
  let v1 = '';
  let v2 = '';
  const remoteDst = path.join(s.dir, 'remote-dst');
  const ssh = (config: string, ...args: string[]) => runCli([...args, '--ssh-config', config, '--remote-cmd', REMOTE, '--json'], { cacheDir: cache, env: { SSH_AUTH_SOCK: '' } });

  beforeAll(async () => {
    lab = await startSshd(path.join(s.dir, 'sshd'));
    ({ v1, v2 } = makeDataset(s.dir));
  });
  afterAll(async () => {
    await lab?.stop();
    s.cleanup();
  });

  it('pushes a dataset to host:path, over four SSH channels by default', async () => {
    const r = await ssh(lab.config, 'sync', v1, `lab:${remoteDst}`);
    expect(r.code, why(r)).toBe(0);
    expect(treeDiff(v1, remoteDst)).toEqual([]);
    const streams = summary(r).streams as number[];
    expect(streams).toHaveLength(4);
    for (const b of streams) expect(b).toBeGreaterThan(1024 * 1024);
  });

  it('pushes the next day incrementally, sending a fraction of the data', async () => {
    const r = await ssh(lab.config, 'sync', v2, `lab:${remoteDst}`, '--delete');
    expect(r.code, why(r)).toBe(0);
    expect(treeDiff(v2, remoteDst)).toEqual([]);
    const sum = summary(r);
    expect(sum.bytesSent).toBeLessThan(sum.bytes * 0.35);
    expect(sum.chunksLocal).toBeGreaterThan(0);
  });

  it('pulls host:path to a local directory', async () => {
    const local = path.join(s.dir, 'pulled');
    const r = await ssh(lab.config, 'sync', `lab:${remoteDst}`, local);
    expect(r.code, why(r)).toBe(0);
    expect(treeDiff(v2, local)).toEqual([]);
    // nothing changed: nothing sent either way
    const again = await ssh(lab.config, 'sync', `lab:${remoteDst}`, local);
    expect(summary(again).bytesSent).toBe(0);
  });

  it('returns as soon as the agent reports the run done, without waiting for the remote command to end', async () => {
    const dst = path.join(s.dir, 'remote-done');
    const marker = path.join(s.dir, 'remote-ended');
    // The remote command outlives the agent (and holds the channel open) by a second.
    const remote = `sh -c '${REMOTE} "$@"; sleep 1; touch ${marker}' sh`;
    const r = await runCli(['sync', v1, `lab:${dst}`, '--ssh-config', lab.config, '--remote-cmd', remote, '--json'], { cacheDir: cache, env: { SSH_AUTH_SOCK: '' } });
    expect(r.code, why(r)).toBe(0);
    expect(treeDiff(v1, dst)).toEqual([]);
    expect(existsSync(marker)).toBe(false);
    // Nothing is left running after the test: the remote command ends by itself.
    for (let i = 0; i < 50 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(marker)).toBe(true);
  });

  it('skips what the remote shell prints before the agent starts (a greeting in ~/.bashrc), over ssh2 and -e ssh', async () => {
    for (const rsh of [[], ['-e', 'ssh']]) {
      const dst = path.join(s.dir, `greeted${rsh.length}`);
      const r = await runCli(['sync', v1, `lab:${dst}`, '--ssh-config', lab.config, '--remote-cmd', `echo Welcome to the lab; printf 'motd\\0'; ${REMOTE}`, '--json', ...rsh], { cacheDir: cache, env: { SSH_AUTH_SOCK: '' } });
      expect(r.code, why(r)).toBe(0);
      expect(treeDiff(v1, dst)).toEqual([]);
    }
  });

  it('runs over the system ssh client with -e ssh (one stream: it cannot open more channels)', async () => {
    const dst = path.join(s.dir, 'via-system-ssh');
    const r = await ssh(lab.config, 'sync', v1, `lab:${dst}`, '-e', 'ssh');
    expect(r.code, why(r)).toBe(0);
    expect(treeDiff(v1, dst)).toEqual([]);
    expect(summary(r).streams).toEqual([]);
  });

  it('--transport tcp: data over direct TCP streams sealed with AES-GCM, push and pull, also with -e ssh', async () => {
    const dst = path.join(s.dir, 'via-tcp');
    const push = await ssh(lab.config, 'sync', v1, `lab:${dst}`, '--transport', 'tcp', '--streams', '3');
    expect(push.code, why(push)).toBe(0);
    expect(treeDiff(v1, dst)).toEqual([]);
    expect(summary(push).streams).toHaveLength(3);
    const back = path.join(s.dir, 'via-tcp-back');
    const pull = await ssh(lab.config, 'sync', `lab:${dst}`, back, '--transport', 'tcp', '-e', 'ssh');
    expect(pull.code, why(pull)).toBe(0);
    expect(treeDiff(v1, back)).toEqual([]);
    const streams = summary(pull).streams as number[];
    expect(streams).toHaveLength(4);
    for (const b of streams) expect(b).toBeGreaterThan(0);
  });

  it('reaches the host through ProxyJump', async () => {
    const cfg = lab.variant('jump', {});
    appendFileSync(cfg, `Host behind\n  HostName 127.0.0.1\n  Port ${lab.port}\n  User root\n  IdentityFile ${lab.clientKey}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${lab.knownHosts}\n  ProxyJump lab\n`);
    const dst = path.join(s.dir, 'via-jump');
    const r = await ssh(cfg, 'sync', v1, `behind:${dst}`);
    expect(r.code, why(r)).toBe(0);
    expect(treeDiff(v1, dst)).toEqual([]);
  });

  it('authenticates with keys held by ssh-agent (SSH_AUTH_SOCK)', async () => {
    const sock = path.join(s.dir, 'agent.sock');
    const out = execFileSync('ssh-agent', ['-a', sock, '-s'], { encoding: 'utf8' });
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)![1]);
    try {
      execFileSync('ssh-add', [lab.clientKey], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      // No IdentityFile that exists: the only way in is the agent.
      const cfg = lab.variant('agent', { IdentityFile: path.join(s.dir, 'no-such-key'), IdentitiesOnly: 'no' });
      const dst = path.join(s.dir, 'via-agent');
      const r = await runCli(['sync', v1, `lab:${dst}`, '--ssh-config', cfg, '--remote-cmd', REMOTE, '--json'], { cacheDir: cache, env: { SSH_AUTH_SOCK: sock } });
      expect(r.code, why(r)).toBe(0);
      expect(treeDiff(v1, dst)).toEqual([]);
    } finally {
      process.kill(pid, 'SIGTERM');
    }
  });

  describe('failures: each a clear message and its own exit code', () => {
    const fail = async (config: string, expected: number, pattern: RegExp, extra: string[] = [], target = `lab:${path.join(s.dir, 'never')}`) => {
      const r = await ssh(config, 'sync', v1, target, ...extra);
      const err = events(r).find((e) => e.event === 'error');
      expect(r.code, JSON.stringify(err)).toBe(expected);
      expect(err?.message).toMatch(pattern);
      expect(existsSync(path.join(s.dir, 'never'))).toBe(false);
      return err;
    };

    it('connection refused: 10', async () => {
      await fail(lab.variant('refused', { Port: String(await freePort()) }), 10, /refused/);
    });

    it.skipIf(!haveUnshare)('host name that does not resolve: 14 (in a network namespace of its own)', async () => {
      const cfg = lab.variant('dns', { HostName: 'no-such-host.invalid' });
      const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn('unshare', ['-n', process.execPath, BIN, 'sync', v1, 'lab:/x', '--ssh-config', cfg, '--json'], { env: { ...process.env, DSYNC_CACHE_DIR: cache } });
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.on('close', (code) => resolve({ code, out }));
      });
      expect(r.code).toBe(14);
      expect(r.out).toMatch(/cannot resolve host name no-such-host\.invalid/);
    });

    it('timeout: 30', async () => {
      // A server that accepts and then says nothing, not even the SSH banner.
      const silent = net.createServer(() => {});
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      try {
        const port = (silent.address() as net.AddressInfo).port;
        await fail(lab.variant('timeout', { Port: String(port), ConnectTimeout: '1' }), 30, /timed out/);
      } finally {
        silent.close();
      }
    });

    it('authentication failed: 40', async () => {
      const other = path.join(s.dir, 'other_key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
      await fail(lab.variant('auth', { IdentityFile: other }), 40, /authentication as .* failed/);
    });

    it('encrypted key and no agent: 40, saying so', async () => {
      const enc = path.join(s.dir, 'encrypted_key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret-pass', '-f', enc]);
      await fail(lab.variant('encrypted', { IdentityFile: enc }), 40, /encrypted.*ssh-add/);
    });

    it('unknown host key: 41 with its fingerprint; --accept-new-host-key adds it', async () => {
      const kh = path.join(s.dir, 'kh-empty');
      writeFileSync(kh, '');
      const cfg = lab.variant('unknown', { UserKnownHostsFile: kh });
      await fail(cfg, 41, /not known \(SHA256:[A-Za-z0-9+/]{43}\).*--accept-new-host-key/);
      const dst = path.join(s.dir, 'accepted');
      const r = await ssh(cfg, 'sync', v1, `lab:${dst}`, '--accept-new-host-key');
      expect(r.code, why(r)).toBe(0);
      expect(readFileSync(kh, 'utf8')).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${lab.port} ssh-ed25519 `));
      // now known: no flag needed
      expect((await ssh(cfg, 'sync', v1, `lab:${dst}`)).code).toBe(0);
    });

    it('hashed known_hosts entries are honoured', async () => {
      const kh = path.join(s.dir, 'kh-hashed');
      writeFileSync(kh, readFileSync(lab.knownHosts));
      execFileSync('ssh-keygen', ['-H', '-f', kh], { stdio: 'ignore' });
      expect(readFileSync(kh, 'utf8')).toMatch(/^\|1\|/);
      const r = await ssh(lab.variant('hashed', { UserKnownHostsFile: kh }), 'sync', v1, `lab:${path.join(s.dir, 'hashed-dst')}`);
      expect(r.code, why(r)).toBe(0);
    });

    it('changed host key: 42, even with --accept-new-host-key', async () => {
      const fake = path.join(s.dir, 'fake_host_key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', fake]);
      const kh = path.join(s.dir, 'kh-changed');
      writeFileSync(kh, `[127.0.0.1]:${lab.port} ${readFileSync(`${fake}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
      const cfg = lab.variant('changed', { UserKnownHostsFile: kh });
      await fail(cfg, 42, /CHANGED/);
      await fail(cfg, 42, /CHANGED/, ['--accept-new-host-key']);
    });

    it('remote dsync missing: 5, with how to fix it', async () => {
      const r = await runCli(['sync', v1, `lab:${path.join(s.dir, 'never')}`, '--ssh-config', lab.config, '--remote-cmd', '/nonexistent/dsync', '--json'], { cacheDir: cache });
      expect(r.code).toBe(5);
      expect(events(r).find((e) => e.event === 'error')?.message).toMatch(/could not be started on lab.*--remote-cmd/);
    });

    it('a remote command that ends without starting dsync: 5 at once, with what it printed', async () => {
      const r = await runCli(['sync', v1, `lab:${path.join(s.dir, 'never')}`, '--ssh-config', lab.config, '--remote-cmd', 'echo Welcome to the lab; true', '--json'], { cacheDir: cache, env: { SSH_AUTH_SOCK: '' } });
      expect(r.code).toBe(5);
      expect(events(r).find((e) => e.event === 'error')?.message).toMatch(/could not be started on lab \(it printed "Welcome to the lab", exit status 0\).*--remote-cmd/);
      expect(events(r).filter((e) => e.event === 'warning')).toEqual([]); // not retried
    });

    it('remote path not writable: 4', async () => {
      await fail(lab.config, 4, /cannot create destination \/proc\/dsync/, [], 'lab:/proc/dsync/data');
    });

    /** Start a 300 MiB push, wait until chunk data flows, then kill the server side of it. */
    const cutMidRun = async (dst: string, extra: string[]) => {
      const big = path.join(s.dir, 'big-src');
      if (!existsSync(path.join(big, 'blob'))) {
        execFileSync('mkdir', ['-p', big]);
        execFileSync('sh', ['-c', `head -c ${300 * 1024 * 1024} /dev/urandom > '${big}/blob'`]);
      }
      const child = spawn(process.execPath, [BIN, 'sync', big, `lab:${dst}`, '--ssh-config', lab.config, '--remote-cmd', REMOTE, '--json', '--compress', 'none', ...extra], {
        env: { ...process.env, DSYNC_CACHE_DIR: cache },
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const done = new Promise<number | null>((r) => child.on('close', r));
      // Wait until the far side has journaled some chunks it staged (the first progress event
      // alone races its first write), then kill the server side.
      const journal = path.join(path.dirname(dst), `.${path.basename(dst)}.dsync`, 'journal');
      const journaled = () => (existsSync(journal) ? readFileSync(journal, 'latin1').split('\n').length - 1 : 0);
      for (let i = 0; i < 400 && journaled() < 16; i++) await new Promise((r) => setTimeout(r, 25));
      expect(journaled()).toBeGreaterThanOrEqual(16);
      for (const pid of lab.sessionPids()) process.kill(pid, 'SIGKILL');
      return { code: await done, out, big };
    };

    it('connection lost mid-run: 13 (with --retries 0)', async () => {
      const { code, out } = await cutMidRun(path.join(s.dir, 'cut-dst'), ['--retries', '0']);
      expect(code, out).toBe(13);
      expect(out).toMatch(/"event":"error".*connection to lab/);
      expect(existsSync(path.join(s.dir, 'cut-dst', 'blob'))).toBe(false);
    });

    it('a connection cut mid-run is retried and resumed within the same run', async () => {
      const dst = path.join(s.dir, 'retried-dst');
      const { code, out, big } = await cutMidRun(dst, []);
      expect(code, out).toBe(0);
      expect(out).toMatch(/"event":"warning","code":"CONN_LOST".*retrying in 1 s/);
      const sum = out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'summary');
      expect(sum.chunksResumed).toBeGreaterThan(0);
      expect(sum.bytesSent).toBeLessThan(300 * 1024 * 1024);
      expect(treeDiff(big, dst)).toEqual([]);
    });
  });
});
