import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli, scratch, why } from '../helpers/cli.js';

describe('filters and DSYNC_* environment variables', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  let n = 0;
  let src = '';
  let dst = '';
  const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { cacheDir: cache, env });
  const has = (rel: string) => existsSync(path.join(dst, rel));

  beforeEach(() => {
    n++;
    src = path.join(s.dir, `src${n}`);
    dst = path.join(s.dir, `dst${n}`);
    mkdirSync(path.join(src, 'cache', 'deep'), { recursive: true });
    mkdirSync(path.join(src, 'data'), { recursive: true });
    for (const f of ['data/a.bin', 'data/b.tmp', 'data/keep.tmp', 'cache/deep/x', 'notes.txt']) writeFileSync(path.join(src, f), f);
    // things only the destination has, some of them excluded
    mkdirSync(path.join(dst, 'data'), { recursive: true });
    writeFileSync(path.join(dst, 'data', 'local.tmp'), 'mine');
    writeFileSync(path.join(dst, 'stale.txt'), 'old');
  });
  afterAll(s.cleanup);

  it('--exclude leaves paths out, and --delete spares excluded destination paths', async () => {
    const r = await cli(['sync', src, dst, '--delete', '--exclude', '*.tmp', '--exclude', 'cache/']);
    expect(r.code, why(r)).toBe(0);
    expect(has('data/a.bin')).toBe(true);
    expect(has('data/b.tmp')).toBe(false);
    expect(has('cache')).toBe(false);
    expect(has('data/local.tmp')).toBe(true); // excluded: not deleted
    expect(has('stale.txt')).toBe(false); // not excluded: deleted
  });

  it('the first matching rule wins: --include before --exclude keeps a file', async () => {
    const r = await cli(['sync', src, dst, '--include', 'keep.tmp', '--exclude', '*.tmp']);
    expect(r.code, why(r)).toBe(0);
    expect(has('data/keep.tmp')).toBe(true);
    expect(has('data/b.tmp')).toBe(false);
  });

  it('--exclude-from reads patterns from a file', async () => {
    const f = path.join(s.dir, `rules${n}`);
    writeFileSync(f, '# comment\n*.tmp\n!keep.tmp\n\ncache/\n');
    const r = await cli(['sync', src, dst, '--exclude-from', f]);
    expect(r.code, why(r)).toBe(0);
    expect([has('data/b.tmp'), has('data/keep.tmp'), has('cache'), has('notes.txt')]).toEqual([false, false, false, true]);
  });

  it('a .dsyncignore at the source root applies, also to what --delete may remove', async () => {
    writeFileSync(path.join(src, '.dsyncignore'), '*.tmp\ncache/\n');
    const r = await cli(['sync', src, dst, '--delete']);
    expect(r.code, why(r)).toBe(0);
    expect([has('data/b.tmp'), has('cache'), has('.dsyncignore'), has('data/local.tmp'), has('stale.txt')]).toEqual([false, false, true, true, false]);
  });

  it('DSYNC_* variables set options; booleans understand 0 and 1', async () => {
    const off = await cli(['sync', src, dst], { DSYNC_DELETE: '0', DSYNC_EXCLUDE: '*.tmp\ncache/' });
    expect(off.code, why(off)).toBe(0);
    expect([has('stale.txt'), has('data/b.tmp'), has('cache')]).toEqual([true, false, false]);
    const on = await cli(['sync', src, dst], { DSYNC_DELETE: '1' });
    expect(on.code, why(on)).toBe(0);
    expect(has('stale.txt')).toBe(false);
    const bad = await cli(['sync', src, dst], { DSYNC_DELETE: 'maybe' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/DSYNC_DELETE must be/);
  });
});
