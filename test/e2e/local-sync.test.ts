import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events, runCli, scratch, summary, why } from '../helpers/cli.js';
import { noise } from '../helpers/data.js';
import { makeDataset } from '../helpers/dataset.js';
import { snapshot, treeDiff } from '../helpers/tree.js';

describe('local sync through the CLI on the benchmark dataset', () => {
  const s = scratch();
  let v1 = '';
  let v2 = '';
  const dst = path.join(s.dir, 'dst');
  const cache = path.join(s.dir, 'cache');
  const cli = (...args: string[]) => runCli([...args, '--json'], { cacheDir: cache });

  beforeAll(() => {
    ({ v1, v2 } = makeDataset(s.dir));
  });
  afterAll(s.cleanup);

  it('syncs v1 into an empty directory exactly (content, modes, mtimes, symlinks)', async () => {
    const r = await cli('sync', v1, dst);
    expect(r.code, why(r)).toBe(0);
    expect(treeDiff(v1, dst)).toEqual([]);
    expect(summary(r).created).toBeGreaterThan(300);
    // Nothing of dsync's own is left in or next to the destination.
    expect(readdirSync(s.dir).filter((n) => n.includes('dsync'))).toEqual([]);
  });

  it('a second identical run reads no file contents and changes nothing', async () => {
    const r = await cli('sync', v1, dst);
    expect(r.code).toBe(0);
    const sum = summary(r);
    expect(sum.sourceRead).toBe(0);
    expect(sum.destRead).toBe(0);
    expect(sum.bytesSent).toBe(0);
    expect(events(r).filter((e) => e.event === 'item')).toEqual([]);
  });

  it('a renamed directory costs no chunk data', async () => {
    const renamed = path.join(s.dir, 'renamed');
    execFileSync('cp', ['-a', v1, renamed]);
    const cls = readdirSync(path.join(renamed, 'images')).sort()[0]!;
    execFileSync('mv', [path.join(renamed, 'images', cls), path.join(renamed, 'images', 'moved-class')]);
    const r = await cli('sync', renamed, dst, '--delete');
    expect(r.code, why(r)).toBe(0);
    const sum = summary(r);
    expect(sum.created).toBeGreaterThan(1);
    expect(sum.chunksLocal).toBeGreaterThan(0);
    expect(sum.bytesSent).toBe(0);
    expect(sum.wireBytes).toBe(0);
    expect(treeDiff(renamed, dst)).toEqual([]);
    // back to v1 for the next step, again without data
    const back = await cli('sync', v1, dst, '--delete');
    expect(summary(back).bytesSent).toBe(0);
  });

  it('syncs v2 (appends, inserts, edits, new, deleted, renamed, touched) onto v1 with --delete', async () => {
    const r = await cli('sync', v2, dst, '--delete');
    expect(r.code, why(r)).toBe(0);
    expect(treeDiff(v2, dst)).toEqual([]);
    const sum = summary(r);
    expect(sum.deleted).toBeGreaterThan(0);
    expect(sum.metaOnly).toBeGreaterThan(0); // mtime-only touches move no data
    expect(sum.chunksLocal).toBeGreaterThan(0);
    expect(sum.bytesSent).toBeLessThan(sum.bytes * 0.35);
    // dsync never read v2 before: it read exactly the files whose size or mtime differ from the
    // destination's copy (v1's), or that it lacks (the quick check of first contact).
    let differing = 0;
    for (const [rel, n] of snapshot(v2)) {
      if (n.type !== 'file') continue;
      const size = statSync(path.join(v2, rel)).size;
      const old = existsSync(path.join(v1, rel)) ? statSync(path.join(v1, rel), { bigint: true }) : null;
      if (!old || Number(old.size) !== size || old.mtimeNs / 1000n !== n.mtimeUs) differing += size;
    }
    expect(differing).toBeGreaterThan(0);
    expect(sum.sourceRead).toBe(differing);
  });

  it('--checksum reads every file of a tree it meets for the first time, and finds nothing more to do', async () => {
    const copy = path.join(s.dir, 'v2-copy');
    execFileSync('cp', ['-a', v2, copy]);
    const r = await cli('sync', copy, dst, '--delete', '--checksum');
    expect(r.code, why(r)).toBe(0);
    const sum = summary(r);
    expect(sum.sourceRead).toBe(sum.bytes);
    expect(sum.bytesSent).toBe(0);
    expect(sum.created + sum.changed + sum.deleted).toBe(0);
  });

  it('a dry run lists the changes and changes nothing', async () => {
    const before = snapshot(dst);
    const r = await cli('sync', v1, dst, '--delete', '--dry-run');
    expect(r.code).toBe(0);
    const items = events(r).filter((e) => e.event === 'item');
    expect(items.some((i) => i.action === 'deleted')).toBe(true);
    expect(items.some((i) => i.action === 'changed')).toBe(true);
    expect(summary(r).bytesSent).toBeGreaterThan(0);
    expect(treeDiff(v2, dst)).toEqual([]);
    expect(snapshot(dst)).toEqual(before);
    expect(readdirSync(s.dir).filter((n) => n.includes('dsync'))).toEqual([]);
  });
});

describe('local sync: edge cases', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  const cli = (...args: string[]) => runCli(args, { cacheDir: cache });
  afterAll(s.cleanup);

  it('files read for their chunk lists are cached: a push of the same tree to a second destination reads none again', async () => {
    const src = path.join(s.dir, 'fanout-src');
    mkdirSync(src);
    for (let i = 0; i < 5; i++) writeFileSync(path.join(src, `f${i}.bin`), noise(70_000, 500 + i));
    const first = await runCli(['sync', src, path.join(s.dir, 'fanout-1'), '--json'], { cacheDir: cache });
    expect(first.code, why(first)).toBe(0);
    expect(summary(first).sourceRead).toBe(350_000); // a new destination wants every list
    const second = await runCli(['sync', src, path.join(s.dir, 'fanout-2'), '--json'], { cacheDir: cache });
    expect(second.code, why(second)).toBe(0);
    expect(summary(second).sourceRead).toBe(0);
    expect(treeDiff(src, path.join(s.dir, 'fanout-2'))).toEqual([]);
  });

  it('two files with equal size and mtime but different bytes are told apart, once the source was read before or with --checksum', async () => {
    const src = path.join(s.dir, 'same-stat-src');
    const dst = path.join(s.dir, 'same-stat-dst');
    mkdirSync(src);
    const f = path.join(src, 'data.bin');
    writeFileSync(f, 'A'.repeat(100_000));
    utimesSync(f, 1_600_000_000, 1_600_000_000);
    expect((await cli('sync', src, dst)).code).toBe(0);
    writeFileSync(f, 'B'.repeat(100_000));
    utimesSync(f, 1_600_000_000, 1_600_000_000);
    // The source's cache saw the file before: rewritten in place, it is read again (its ctime
    // moved), whatever its size and mtime.
    expect((await cli('sync', src, dst)).code).toBe(0);
    expect(readFileSync(path.join(dst, 'data.bin'), 'utf8')).toBe('B'.repeat(100_000));
    // Another source tree, never synced before, with the same size and mtime but other bytes:
    // on first contact that counts as unchanged, as in rsync, unless --checksum has it read.
    const other = path.join(s.dir, 'same-stat-other');
    mkdirSync(other);
    writeFileSync(path.join(other, 'data.bin'), 'C'.repeat(100_000));
    utimesSync(path.join(other, 'data.bin'), 1_600_000_000, 1_600_000_000);
    expect((await cli('sync', other, dst)).code).toBe(0);
    expect(readFileSync(path.join(dst, 'data.bin'), 'utf8')).toBe('B'.repeat(100_000));
    expect((await cli('sync', other, dst, '--checksum')).code).toBe(0);
    expect(readFileSync(path.join(dst, 'data.bin'), 'utf8')).toBe('C'.repeat(100_000));
  });

  it('a local agent that Node makes print on stdout still syncs: its output goes to stderr', async () => {
    // What --trace-gc and other debugging flags do, in both processes (the agent runs under the
    // client's Node flags): print on stdout, all through the run.
    const preload = path.join(s.dir, 'chatty.cjs');
    writeFileSync(preload, `setInterval(() => process.stdout.write('chatty ' + process.argv[2] + '\\n'), 1).unref();\n`);
    const src = path.join(s.dir, 'chatty-src');
    const dst = path.join(s.dir, 'chatty-dst');
    mkdirSync(src);
    for (let i = 0; i < 20; i++) writeFileSync(path.join(src, `f${i}.bin`), noise(200_000, i));
    const r = await runCli(['sync', src, dst], { cacheDir: cache, nodeArgs: ['--require', preload] });
    expect(r.code, why(r)).toBe(0);
    expect(treeDiff(src, dst)).toEqual([]);
    expect(r.stderr).toContain('chatty agent');
  });

  it('handles names with spaces, newlines and non-ASCII characters', async () => {
    const src = path.join(s.dir, 'names-src');
    const dst = path.join(s.dir, 'names-dst');
    const names = ['with space.txt', 'new\nline.txt', 'ünïcødé-数据.txt', 'emoji-🚀.bin', "quote'\"s.txt", '-dash.txt'];
    mkdirSync(path.join(src, 'sub dir'), { recursive: true });
    for (const n of names) writeFileSync(path.join(src, 'sub dir', n), `content of ${n}`);
    const r = await cli('sync', src, dst);
    expect(r.code, why(r)).toBe(0);
    expect(treeDiff(src, dst)).toEqual([]);
  });

  it('copies symlinks as links and never follows one out of the tree', async () => {
    const src = path.join(s.dir, 'links-src');
    const dst = path.join(s.dir, 'links-dst');
    const outside = path.join(s.dir, 'outside');
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'secret'), 'secret');
    mkdirSync(src);
    symlinkSync(outside, path.join(src, 'escape'));
    symlinkSync('../nowhere', path.join(src, 'dangling'));
    expect((await cli('sync', src, dst)).code).toBe(0);
    expect(treeDiff(src, dst)).toEqual([]);
    // The destination has a link where the source now has a directory: it is replaced, and the
    // file goes into the new directory, not through the old link.
    execFileSync('rm', [path.join(src, 'escape')]);
    mkdirSync(path.join(src, 'escape'));
    writeFileSync(path.join(src, 'escape', 'secret'), 'mine');
    expect((await cli('sync', src, dst)).code).toBe(0);
    expect(readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('secret');
    expect(treeDiff(src, dst)).toEqual([]);
  });

  it('keeps extra destination files without --delete and removes them with it', async () => {
    const src = path.join(s.dir, 'del-src');
    const dst = path.join(s.dir, 'del-dst');
    mkdirSync(src);
    writeFileSync(path.join(src, 'keep'), 'k');
    expect((await cli('sync', src, dst)).code).toBe(0);
    mkdirSync(path.join(dst, 'extra-dir'));
    writeFileSync(path.join(dst, 'extra-dir', 'x'), 'x');
    writeFileSync(path.join(dst, 'extra'), 'x');
    expect((await cli('sync', src, dst)).code).toBe(0);
    expect(existsSync(path.join(dst, 'extra'))).toBe(true);
    expect((await cli('sync', src, dst, '--delete')).code).toBe(0);
    expect(treeDiff(src, dst)).toEqual([]);
  });

  it('a file moved at the source becomes a new name of the deleted one (with --delete only)', async () => {
    const src = path.join(s.dir, 'mv-src');
    const dst = path.join(s.dir, 'mv-dst');
    mkdirSync(path.join(src, 'a'), { recursive: true });
    const big = Buffer.alloc(3_000_000);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    writeFileSync(path.join(src, 'a', 'big'), big);
    writeFileSync(path.join(src, 'a', 'shared'), 'has another name in the destination');
    writeFileSync(path.join(src, 'a', 'copied'), 'kept at its old place too');
    expect((await cli('sync', src, dst)).code).toBe(0);
    linkSync(path.join(dst, 'a', 'shared'), path.join(s.dir, 'mv-other-name'));
    const ino = (rel: string) => statSync(path.join(dst, rel)).ino;
    const before = { big: ino('a/big'), shared: ino('a/shared'), copied: ino('a/copied') };
    renameSync(path.join(src, 'a'), path.join(src, 'b'));
    mkdirSync(path.join(src, 'a'));
    writeFileSync(path.join(src, 'a', 'copied'), 'kept at its old place too');
    utimesSync(path.join(src, 'a', 'copied'), statSync(path.join(src, 'b', 'copied')).atime, statSync(path.join(src, 'b', 'copied')).mtime);

    const r = await cli('sync', src, dst, '--delete', '--json');
    expect(r.code, why(r)).toBe(0);
    expect(treeDiff(src, dst)).toEqual([]);
    expect(summary(r).bytesSent).toBe(0);
    // Moved: the very file, nothing copied. A file with another name outside the tree, or one
    // still listed at its old place, is copied instead: no two paths come to share a file.
    expect(ino('b/big')).toBe(before.big);
    expect(ino('b/shared')).not.toBe(before.shared);
    expect(readFileSync(path.join(s.dir, 'mv-other-name'), 'utf8')).toBe('has another name in the destination');
    expect(ino('a/copied')).toBe(before.copied);
    expect(ino('b/copied')).not.toBe(before.copied);
    expect(statSync(path.join(dst, 'b', 'big')).nlink).toBe(1);

    // Without --delete the old file stays, so the new path gets a copy of its own.
    renameSync(path.join(src, 'b'), path.join(src, 'c'));
    const kept = await cli('sync', src, dst);
    expect(kept.code, why(kept)).toBe(0);
    expect(ino('c/big')).not.toBe(ino('b/big'));
    expect(readFileSync(path.join(dst, 'c', 'big')).equals(big)).toBe(true);
    expect(statSync(path.join(dst, 'b', 'big')).nlink).toBe(1);
  });

  it('copies a single file into a directory or onto a new name', async () => {
    const file = path.join(s.dir, 'single.bin');
    writeFileSync(file, Buffer.alloc(300_000, 5));
    const dir = path.join(s.dir, 'single-dir');
    mkdirSync(dir);
    expect((await cli('sync', file, dir)).code).toBe(0);
    expect(readFileSync(path.join(dir, 'single.bin')).equals(readFileSync(file))).toBe(true);
    const onto = path.join(s.dir, 'renamed-copy.bin');
    expect((await cli('sync', file, onto)).code).toBe(0);
    expect(readFileSync(onto).equals(readFileSync(file))).toBe(true);
    const intoNew = path.join(s.dir, 'new-dir') + '/';
    expect((await cli('sync', file, intoNew)).code).toBe(0);
    expect(existsSync(path.join(s.dir, 'new-dir', 'single.bin'))).toBe(true);
  });

  it('treats a trailing slash on the source like none (the contents are synced)', async () => {
    const src = path.join(s.dir, 'slash-src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'f'), 'f');
    const a = path.join(s.dir, 'slash-a');
    const b = path.join(s.dir, 'slash-b');
    expect((await cli('sync', src + '/', a)).code).toBe(0);
    expect((await cli('sync', src, b)).code).toBe(0);
    expect(treeDiff(a, b)).toEqual([]);
    expect(existsSync(path.join(a, 'f'))).toBe(true);
  });
});
