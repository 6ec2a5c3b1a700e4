import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, REPO, scratch } from '../helpers/cli.js';
import { haveSshd, startSshd, type LabSshd } from '../helpers/sshd.js';
import { treeDiff } from '../helpers/tree.js';

const README = readFileSync(path.join(REPO, 'README.md'), 'utf8');
const HOSTS = ['gpu-node-3', 'data-server'];
const CRON = /^(?:[\d*,/-]+\s+){5}\S+\s+(dsync\s.*)$/; // minute hour day month weekday user command

/** Every command line of the README's code blocks, in order (continuations joined, comments cut). */
export function readmeCommands(text: string): string[] {
  const out: string[] = [];
  for (const block of text.matchAll(/^```(?:sh)?\n([\s\S]*?)^```/gm)) {
    const lines = block[1]!.replace(/\\\n\s*/g, ' ').split('\n');
    for (const raw of lines) {
      const line = raw.replace(/\s+#\s.*$/, '').trim();
      const cron = CRON.exec(line);
      if (cron) out.push(cron[1]!);
      else if (/^(dsync|npm|export) /.test(line)) out.push(line);
    }
  }
  return out;
}

/**
 * Run every README example so the README cannot rot. The examples run as written, in a sandbox:
 * `dsync` is this checkout, the hosts are a real sshd on 127.0.0.1 (named in a private ~/.ssh/config),
 * and absolute or home-relative paths are moved under a scratch directory.
 */
describe.skipIf(!haveSshd)('every example in the README', () => {
  const s = scratch();
  const root = path.join(s.dir, 'sandbox');
  const home = path.join(s.dir, 'home');
  const work = path.join(s.dir, 'work');
  const bin = path.join(s.dir, 'bin');
  const checkout = path.join(s.dir, 'checkout');
  let lab: LabSshd;
  const savedPath = process.env.PATH;

  beforeAll(async () => {
    // What the cron example expects of the machine: its log and textfile-collector directories.
    const machine = [path.join(root, 'var', 'log', 'dsync'), path.join(root, 'var', 'lib', 'node_exporter', 'textfile'), path.join(root, 'data')];
    for (const d of [root, work, bin, path.join(home, '.ssh'), path.join(s.dir, 'runner'), ...machine]) mkdirSync(d, { recursive: true });
    writeFileSync(path.join(bin, 'dsync'), `#!/bin/sh\nexec ${process.execPath} ${BIN} "$@"\n`, { mode: 0o755 });
    process.env.PATH = `${bin}:${savedPath}`; // the sshd passes it on: the remote "dsync" is this one too
    lab = await startSshd(path.join(s.dir, 'sshd'));
    const hosts = readFileSync(lab.config, 'utf8').replace(/^Host lab$/m, `Host ${HOSTS.join(' ')}`);
    writeFileSync(path.join(home, '.ssh', 'config'), hosts);
    writeFileSync(path.join(s.dir, 'runner', 'ssh_config'), hosts);
    for (const f of ['package.json', 'tsconfig.json', 'bin', 'src', 'bench', 'fixtures']) cpSync(path.join(REPO, f), path.join(checkout, f), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    symlinkSync(path.join(REPO, 'node_modules'), path.join(checkout, 'node_modules'));
    cpSync(path.join(REPO, 'fixtures', 'sample'), path.join(work, 'data'), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    cpSync(path.join(REPO, 'fixtures', 'sample'), path.join(root, 'data', 'corpus'), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  });
  afterAll(async () => {
    process.env.PATH = savedPath;
    await lab?.stop();
    s.cleanup();
  });

  /** Absolute paths go under the sandbox, remote relative paths under its home. */
  const relocate = (cmd: string) =>
    cmd
      .replace(new RegExp(`(${HOSTS.join('|')}):(?!/)`, 'g'), `$1:${home}/`)
      .replace(/(^|[\s:=])\/(datasets|data|var)\//g, `$1${root}/$2/`);

  it('finds the examples', () => {
    const cmds = readmeCommands(README);
    expect(cmds.filter((c) => c.startsWith('dsync ')).length).toBeGreaterThanOrEqual(14);
    expect(cmds).toContain('npm ci && npm run demo');
    expect(cmds).toContain('npm test');
  });

  it('runs each one and it succeeds', () => {
    const env = { ...process.env, HOME: home, RUNNER_TEMP: path.join(s.dir, 'runner'), DSYNC_CACHE_DIR: path.join(s.dir, 'cache'), SSH_AUTH_SOCK: '' };
    const exports: string[] = [];
    for (const cmd of readmeCommands(README)) {
      if (cmd.startsWith('export ')) {
        exports.push(relocate(cmd));
        continue;
      }
      if (cmd === 'npm test') continue; // this very suite
      // The quick start runs in a copy of the checkout (its build must not rewrite dist/ under the
      // tests running beside this one; npm ci already ran to get here); the rest in the sandbox.
      const quickStart = cmd.startsWith('npm ');
      const script = [...exports, quickStart ? cmd.replace('npm ci && ', '') : relocate(cmd)].join('\n');
      let code = 0;
      let output = '';
      try {
        output = execFileSync('bash', ['-e', '-c', script], { cwd: quickStart ? checkout : work, env, encoding: 'utf8', stdio: 'pipe', timeout: 120_000 });
      } catch (err) {
        const e = err as { status: number; stderr: string; stdout: string };
        code = e.status;
        output = `${e.stdout}\n${e.stderr}`;
      }
      expect(code, `${cmd}\n${output}`).toBe(0);
    }
    // What the examples did, taken together.
    expect(treeDiff(path.join(checkout, 'fixtures', 'sample'), path.join(checkout, '.tmp', 'demo-copy'))).toEqual([]);
    expect(treeDiff(path.join(work, 'data'), path.join(root, 'datasets', 'data'))).toEqual([]);
    expect(treeDiff(path.join(root, 'data', 'corpus'), path.join(work, 'corpus'))).toEqual([]);
    expect(readFileSync(path.join(root, 'var', 'lib', 'node_exporter', 'textfile', 'dsync_corpus.prom'), 'utf8')).toMatch(/dsync_last_success_timestamp_seconds/);
  }, 300_000);
});
