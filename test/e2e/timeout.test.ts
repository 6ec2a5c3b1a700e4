import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, scratch } from '../helpers/cli.js';
import { noise } from '../helpers/data.js';

describe('a stalled peer', () => {
  const s = scratch();
  const src = path.join(s.dir, 'src');
  mkdirSync(src);
  writeFileSync(path.join(src, 'big.bin'), noise(256 * 1024 * 1024, 3));
  afterAll(s.cleanup);

  it('ends the run with exit 30 after --timeout seconds of silence', async () => {
    const child = spawn(process.execPath, [BIN, 'sync', src, path.join(s.dir, 'dst'), '--compress', 'none', '--timeout', '2', '--retries', '0', '--json'], {
      env: { ...process.env, DSYNC_CACHE_DIR: path.join(s.dir, 'cache') },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const closed = new Promise<number | null>((r) => child.on('close', r));
    // The agent is the client's child: freeze it (SIGSTOP) once it exists, so it neither reads nor writes.
    let agent = 0;
    for (let i = 0; i < 200 && !agent; i++) {
      await new Promise((r) => setTimeout(r, 25));
      try {
        agent = Number(execFileSync('pgrep', ['-P', String(child.pid), '-f', 'agent'], { encoding: 'utf8' }).trim().split('\n')[0]);
      } catch {
        agent = 0;
      }
    }
    expect(agent).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    process.kill(agent, 'SIGSTOP');
    const t0 = Date.now();
    try {
      const code = await closed;
      expect(code, `${out}\n${err}`).toBe(30);
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(out).toMatch(/"event":"error","code":"TIMEOUT".*no data from local agent for 2 s/);
    } finally {
      try {
        process.kill(agent, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
});
