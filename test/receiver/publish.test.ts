import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emptyStats, nullReporter, type ItemAction } from '../../src/engine/events.js';
import type { Entry } from '../../src/manifest/entry.js';
import type { StagedFile } from '../../src/receiver/assembly.js';
import { publish } from '../../src/receiver/publish.js';
import { scratch } from '../helpers/cli.js';

const s = scratch('dsync-publish-');
afterAll(() => s.cleanup());

const file = (p: string): Entry => ({ path: p, type: 'file', mode: 0o644, mtimeNs: 1_700_000_000_000_000_000n, size: 1 });
const dir = (p: string): Entry => ({ path: p, type: 'dir', mode: 0o755, mtimeNs: 1_700_000_000_000_000_000n, size: 0 });

/** Publish `names` (new files staged in a staging directory) into a new `root`, deleting `extras` found there. */
async function run(root: string, names: string[], extras: string[], missing?: string) {
  const staging = `${root}-staging`;
  mkdirSync(root);
  mkdirSync(staging);
  const entries = [dir(''), ...names.map(file)];
  const actions: (ItemAction | 'none')[] = ['none', ...names.map(() => 'new' as const)];
  const staged = new Map<number, StagedFile>();
  names.forEach((n, i) => {
    const f = path.join(staging, n);
    if (n !== missing) writeFileSync(f, n);
    staged.set(i + 1, { entry: entries[i + 1]!, staged: f, remaining: 0, state: 'ready', created: Promise.resolve(), inPlace: null });
  });
  for (const x of extras) writeFileSync(path.join(root, x), 'old');
  const dest = new Map<string, Entry>([['', dir('')], ...extras.map((x) => [x, file(x)] as [string, Entry])]);
  const stats = emptyStats();
  await publish({ root, breakLinks: false, entries, actions, staged, dest, deleteExtra: true, dryRun: false, tmpPath: async () => path.join(staging, 'tmp'), reporter: nullReporter, stats });
  return stats;
}

describe('publish', () => {
  it('renames every staged file into place and deletes every extra, several at a time', async () => {
    const root = path.join(s.dir, 'a');
    const names = Array.from({ length: 40 }, (_, i) => `f${i}`);
    const extras = Array.from({ length: 30 }, (_, i) => `x${i}`);
    const stats = await run(root, names, extras);
    expect([stats.created, stats.deleted]).toEqual([40, 30]);
    for (const n of names) expect(readFileSync(path.join(root, n), 'utf8')).toBe(n);
    for (const x of extras) expect(existsSync(path.join(root, x))).toBe(false);
  });

  it('deletes an extra symlink itself, never what it points to, and one the scan saw as a file that is a directory now, or gone', async () => {
    const root = path.join(s.dir, 'c');
    mkdirSync(root);
    const outside = path.join(s.dir, 'outside.txt');
    writeFileSync(outside, 'keep');
    symlinkSync(outside, path.join(root, 'link'));
    mkdirSync(path.join(root, 'now-a-dir'));
    writeFileSync(path.join(root, 'now-a-dir', 'inside'), 'x');
    const link: Entry = { path: 'link', type: 'symlink', mode: 0o777, mtimeNs: 0n, size: 0, target: outside };
    const dest = new Map<string, Entry>([['', dir('')], ['link', link], ['now-a-dir', file('now-a-dir')], ['gone', file('gone')]]);
    const stats = emptyStats();
    await publish({ root, breakLinks: false, entries: [dir('')], actions: ['none'], staged: new Map(), dest, deleteExtra: true, dryRun: false, tmpPath: async () => path.join(s.dir, 'tmp'), reporter: nullReporter, stats });
    expect(stats.deleted).toBe(3);
    for (const x of ['link', 'now-a-dir', 'gone']) expect(lstatSync(path.join(root, x), { throwIfNoEntry: false })).toBeUndefined();
    expect(readFileSync(outside, 'utf8')).toBe('keep');
  });

  it('a failed rename fails the run, naming the file, once every other operation has ended', async () => {
    const root = path.join(s.dir, 'b');
    const names = Array.from({ length: 20 }, (_, i) => `f${i}`);
    await expect(run(root, names, [], 'f3')).rejects.toThrow(/cannot update f3 in/);
    // Nothing still under way: the others are all in place.
    for (const n of names) if (n !== 'f3') expect(existsSync(path.join(root, n))).toBe(true);
  });
});
