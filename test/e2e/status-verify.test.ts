import { openSync, writeSync, closeSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events, REPO, runCli, scratch, summary, why } from '../helpers/cli.js';
import { snapshot } from '../helpers/tree.js';

const SAMPLE = path.join(REPO, 'fixtures', 'sample');

describe('status and verify', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  const dst = path.join(s.dir, 'dst');
  const cli = (...args: string[]) => runCli(args, { cacheDir: cache });
  beforeAll(async () => {
    expect((await cli('sync', SAMPLE, dst)).code).toBe(0);
  });
  afterAll(s.cleanup);

  it('verify: identical trees exit 0', async () => {
    const r = await cli('verify', SAMPLE, dst);
    expect(r.code, why(r)).toBe(0);
    expect(r.stdout).toMatch(/re-read on both sides: identical/);
  });

  it('verify: finds a file changed behind its stat (same size and mtime) and exits 50', async () => {
    const f = path.join(dst, 'text', 'shard-00001.jsonl');
    const st = statSync(f);
    const fd = openSync(f, 'r+');
    writeSync(fd, 'X', 100);
    closeSync(fd);
    utimesSync(f, st.atime, st.mtime);
    writeFileSync(path.join(dst, 'extra.txt'), 'not in the source');
    const r = await cli('verify', SAMPLE, dst, '--json');
    expect(r.code).toBe(50);
    const items = events(r).filter((e) => e.event === 'item').map((e) => `${e.action} ${e.path}`);
    expect(items.sort()).toEqual(['changed text/shard-00001.jsonl', 'deleted extra.txt']);
    expect(summary(r).exitCode).toBe(50);
  });

  it('status: lists what a sync would change and send, and changes nothing', async () => {
    const before = snapshot(dst);
    const r = await cli('status', SAMPLE, dst, '--delete');
    expect(r.code, why(r)).toBe(0);
    expect(r.stdout).toMatch(/^update +text\/shard-00001\.jsonl$/m);
    expect(r.stdout).toMatch(/^delete +extra\.txt$/m);
    expect(r.stdout).toMatch(/1 would be updated, 0 would be touched, 1 would be deleted; would send [\d.]+ KiB/);
    expect(snapshot(dst)).toEqual(before);
    // a sync repairs it, and verify agrees
    expect((await cli('sync', SAMPLE, dst, '--delete')).code).toBe(0);
    expect((await cli('verify', SAMPLE, dst)).code).toBe(0);
  });
});
