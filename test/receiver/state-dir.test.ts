import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StateDir } from '../../src/receiver/state-dir.js';
import { scratch } from '../helpers/cli.js';

const tmp = scratch('dsync-statedir-');
afterAll(() => tmp.cleanup());

function fsType(dir: string): string {
  return execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim();
}

describe('StateDir', () => {
  it('creates the staging area with its subdirectories, keeping what is there', async () => {
    const state = StateDir.for(path.join(tmp.dir, 'dst'));
    await state.create();
    const subdirs = readdirSync(state.staging).sort();
    expect(subdirs).toHaveLength(16);
    const salt = subdirs[0]!.slice(1);
    expect(salt).toMatch(/^-[0-9a-f]{8}$/);
    expect(subdirs).toEqual([...Array(16).keys()].map((i) => i.toString(16) + salt));
    await state.create(); // again: an interrupted run's staging is reused, not an error
    expect(readdirSync(state.staging).sort()).toEqual(subdirs);
    expect(state.stagedPath('ab12')).toBe(path.join(state.staging, `a${salt}`, 'ab12'));
    expect(state.stagedPath('ab12', 2)).toBe(path.join(state.staging, `a${salt}`, 'ab12.2'));
    // The next run after an interruption finds the staged files where this one put them.
    expect(StateDir.for(path.join(tmp.dir, 'dst')).stagedPath('ab12')).toBe(state.stagedPath('ab12'));
  });

  it('names the subdirectories of each new staging area differently (ext4 places them by name)', async () => {
    const state = StateDir.for(path.join(tmp.dir, 'again'));
    await state.create();
    const first = readdirSync(state.staging).sort();
    await state.removeStaging();
    await state.create();
    const second = readdirSync(state.staging).sort();
    expect(second).toHaveLength(16);
    expect(second.filter((name) => first.includes(name))).toEqual([]);
    expect(state.stagedPath('ab12')).toBe(path.join(state.staging, second[10]!, 'ab12'));
  });

  it('keeps using the subdirectories of a staging area made by an older version (no salt)', async () => {
    const state = StateDir.for(path.join(tmp.dir, 'older'));
    for (let i = 0; i < 16; i++) mkdirSync(path.join(state.staging, i.toString(16)), { recursive: true });
    await state.create();
    expect(readdirSync(state.staging)).toHaveLength(16);
    expect(state.stagedPath('ab12')).toBe(path.join(state.staging, 'a', 'ab12'));
  });

  // The flag is an ext2/3/4 feature; elsewhere the default placement stays.
  it.runIf(/^ext[234]/.test(fsType(tmp.dir)))('asks ext4 to spread the staging subdirectories over block groups (chattr +T)', async () => {
    const state = StateDir.for(path.join(tmp.dir, 'spread'));
    await state.create();
    const flags = execFileSync('lsattr', ['-d', state.staging], { encoding: 'utf8' }).split(' ')[0]!;
    expect(flags).toContain('T');
  });
});
