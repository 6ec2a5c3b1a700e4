import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, REPO, runCli, scratch, why } from '../helpers/cli.js';

const haveTmux = (() => {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const STREAMS = /\| streams( [\d.]+ \S+){3}\/s/;
const BAR = /\|[█░]{10,}\| \d{1,3}% \| [\d.]+ \S+ of [\d.]+ \S+ \| [\d.]+ \S+\/s \| ETA/;

describe('progress display', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  const src = path.join(s.dir, 'src');
  mkdirSync(src);
  for (let i = 0; i < 4; i++) writeFileSync(path.join(src, `part-${i}.bin`), randomBytes(96 * 1024 * 1024));
  afterAll(s.cleanup);

  it.skipIf(!haveTmux)('animates a bar with per-stream rates in a real terminal (tmux) and clears it for the summary', async () => {
    const session = `dsync-test-${process.pid}`;
    const dst = path.join(s.dir, 'tty-dst');
    // Held to about 3 s (--bwlimit): per-stream rates are shown from their second tick (500 ms
    // apart), and an unthrottled local copy of 384 MiB can end within about a second.
    const cmd = `DSYNC_CACHE_DIR=${cache} ${process.execPath} ${BIN} sync ${src} ${dst} --compress none --streams 3 --bwlimit 128M; echo EXIT=$?; sleep 60`;
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '200', '-y', '20', '-c', REPO, cmd]);
    const screen = () => execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
    try {
      let sawBar = '';
      let sawStreams = '';
      let last = '';
      for (let i = 0; i < 600 && !last.includes('EXIT='); i++) {
        last = screen();
        if (BAR.test(last)) sawBar = last;
        if (STREAMS.test(last)) sawStreams = last;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(sawBar, last).toMatch(BAR);
      expect(sawStreams, sawBar).toMatch(STREAMS);
      expect(last).toMatch(/EXIT=0/);
      expect(last).toMatch(/4 files, 384 MiB: 4 created/);
      expect(last).not.toMatch(BAR); // cleared once the run ends
    } finally {
      execFileSync('tmux', ['kill-session', '-t', session]);
    }
  });

  it('animates nothing when the output is not a terminal', async () => {
    const r = await runCli(['sync', src, path.join(s.dir, 'pipe-dst'), '--compress', 'none'], { cacheDir: cache });
    expect(r.code, why(r)).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toMatch(/[\r█░]/);
    expect(r.stdout).toMatch(/^4 files, 384 MiB: 4 created/);
  });
});
