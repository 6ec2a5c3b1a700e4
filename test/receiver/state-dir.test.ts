import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
    for (let i = 0; i < 16; i++) expect(existsSync(path.join(state.staging, i.toString(16)))).toBe(true);
    await state.create(); // again: an interrupted run's staging is reused, not an error
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
