import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, events, runCli, scratch, why } from '../helpers/cli.js';
import { noise } from '../helpers/data.js';

/** An error is one line on stderr, with no stack trace. */
function oneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^dsync: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('local sync: errors and exit codes', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  const cli = (...args: string[]) => runCli(args, { cacheDir: cache });
  afterAll(s.cleanup);

  it('missing source: exit 3, names the path', async () => {
    const r = await cli('sync', path.join(s.dir, 'nope'), path.join(s.dir, 'dst'));
    expect(r.code).toBe(3);
    oneLineError(r.stderr, /nope.*no such file or directory/);
    expect(existsSync(path.join(s.dir, 'dst'))).toBe(false);
  });

  it('destination inside the source: exit 1', async () => {
    const src = path.join(s.dir, 'src');
    mkdirSync(src);
    const r = await cli('sync', src, path.join(src, 'inner', 'copy'));
    expect(r.code).toBe(1);
    oneLineError(r.stderr, /inside the source/);
  });

  it('destination is an existing file: exit 4', async () => {
    const src = path.join(s.dir, 'src2');
    mkdirSync(src);
    writeFileSync(path.join(s.dir, 'afile'), 'x');
    const r = await cli('sync', src, path.join(s.dir, 'afile'));
    expect(r.code).toBe(4);
    oneLineError(r.stderr, /not a directory/);
  });

  it('bad option values and unknown options: exit 1', async () => {
    const r = await cli('sync', s.dir, path.join(s.dir, 'x'), '--compress', 'fast');
    expect(r.code).toBe(1);
    oneLineError(r.stderr, /--compress/);
    const u = await cli('sync', '--bogus', 'a', 'b');
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/unknown option/);
  });

  it('an agent told to answer on a descriptor other than the pipe a client opens: exit 1', async () => {
    // Descriptor 3 is not a pipe here (the test opens none), 7 is Node's own if anything.
    for (const fd of ['7', 'x', '3']) {
      const r = await runCli(['agent', '--protocol-fd', fd], { cacheDir: cache });
      expect(r.code).toBe(1);
      oneLineError(r.stderr, /--protocol-fd takes 3, a pipe the client opened/);
    }
  });

  it('errors are JSON events with --json, and stdout holds nothing else', async () => {
    const r = await runCli(['sync', path.join(s.dir, 'nope'), path.join(s.dir, 'd'), '--json'], { cacheDir: cache });
    expect(r.code).toBe(3);
    const evs = events(r);
    expect(evs.map((e) => e.event)).toEqual(['start', 'error']);
    expect(evs[1]).toMatchObject({ code: 'SOURCE', exitCode: 3 });
  });

  it('a file changed after it was scanned is not sent torn: reported once (exit 24), the old version kept', async () => {
    const src = path.join(s.dir, 'later-src');
    const dst = path.join(s.dir, 'later-dst');
    mkdirSync(src);
    const big = path.join(src, 'big.bin');
    writeFileSync(big, noise(24 * 1024 * 1024, 11));
    const child = spawn(process.execPath, [BIN, 'sync', src, dst, '--json', '--bwlimit', '6M', '--compress', 'none'], { env: { ...process.env, DSYNC_CACHE_DIR: cache } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    // Once data flows, the file is scanned and being sent: change it under the sender.
    for (let i = 0; i < 200 && !/"event":"progress","bytes":[1-9]/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    appendFileSync(big, 'more');
    expect(await exited).toBe(24);
    const warnings = out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.event === 'warning');
    // Once from the sender, once from the receiver that keeps the old version; not once a chunk.
    expect(warnings.filter((w) => /^source file big\.bin changed during the run/.test(w.message))).toHaveLength(1);
    expect(warnings.filter((w) => /^big\.bin: not updated/.test(w.message))).toHaveLength(1);
    expect(existsSync(path.join(dst, 'big.bin'))).toBe(false);
  });

  it('a file that keeps changing while read is skipped (exit 24), never written torn', async () => {
    const src = path.join(s.dir, 'busy-src');
    const dst = path.join(s.dir, 'busy-dst');
    mkdirSync(src);
    const busy = path.join(src, 'busy.bin');
    writeFileSync(busy, Buffer.alloc(32 * 1024 * 1024, 1));
    writeFileSync(path.join(src, 'calm.txt'), 'calm');
    // A writer that rewrites the file as fast as it can for at most 30 s (killed by pid below).
    const writer = spawn(process.execPath, ['-e', `
      const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(busy)}, 'r+'); const b = Buffer.alloc(4096);
      const end = Date.now() + 30000; let i = 0;
      while (Date.now() < end) { b.fill(i++ & 255); fs.writeSync(fd, b, 0, b.length, (i * 7919 * 4096) % (32 * 1024 * 1024)); }`]);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const r = await cli('sync', src, dst);
      expect(r.code, why(r)).toBe(24);
      expect(r.stderr).toMatch(/busy\.bin.*changed while being read/);
      expect(readFileSync(path.join(dst, 'calm.txt'), 'utf8')).toBe('calm');
      expect(existsSync(path.join(dst, 'busy.bin'))).toBe(false);
    } finally {
      writer.kill('SIGKILL');
    }
  });
});
