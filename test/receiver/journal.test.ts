import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChunkIndex } from '../../src/receiver/chunk-index.js';
import { Journal } from '../../src/receiver/journal.js';
import { scratch } from '../helpers/cli.js';

const tmp = scratch('dsync-journal-');
afterAll(() => tmp.cleanup());

const key = (i: number) => Buffer.alloc(32, i).toString('latin1');
const lines = (file: string) => readFileSync(file, 'latin1').split('\n').filter(Boolean).length;

// Staging subdirectories are named by a digit and a salt (older versions: the digit alone).
function setup(name: string, subdir = 'a-0123abcd') {
  const dir = path.join(tmp.dir, name);
  const staging = path.join(dir, 'staging');
  mkdirSync(path.join(staging, subdir), { recursive: true });
  const staged = path.join(staging, subdir, 'a'.repeat(32));
  writeFileSync(staged, Buffer.alloc(4096));
  const file = path.join(dir, 'journal');
  return { staging, staged, file, journal: new Journal(file, staging) };
}

describe('Journal', () => {
  it('gathers lines and appends them within 50 ms, or at once past 16 KiB', async () => {
    const { staged, file, journal } = setup('batch');
    journal.record(staged, [{ key: key(1), offset: 0, length: 1024 }]);
    expect(lines(file)).toBe(0); // held back for a moment...
    await new Promise((r) => setTimeout(r, 120));
    expect(lines(file)).toBe(1); // ...not for long
    for (let i = 0; i < 200; i++) journal.record(staged, [{ key: key(i % 250), offset: 0, length: 1024 }]);
    expect(lines(file)).toBeGreaterThan(1); // 200 lines are past 16 KiB: appended without waiting
    journal.close();
    expect(lines(file)).toBe(201); // close appends the rest
  });

  it.each(['a-0123abcd', 'a'])('is read back as chunks held in staging (in %s/); a torn last line is skipped', (subdir) => {
    const { staging, staged, file, journal } = setup(`reuse-${subdir}`, subdir);
    journal.record(staged, [
      { key: key(7), offset: 0, length: 2048 },
      { key: key(8), offset: 2048, length: 2048 },
    ]);
    journal.close();
    appendFileSync(file, `${Buffer.from(key(9), 'latin1').toString('hex')} ${subdir}/${'a'.repeat(32)} 40`); // killed mid-line
    const index = new ChunkIndex();
    expect(Journal.reuse(file, staging, index, 1 << 20)).toBe(2);
    expect(index.get(key(8))).toMatchObject({ file: staged, offset: 2048, length: 2048 });
    expect(index.get(key(9))).toBeUndefined();
  });

  it('ignores lines naming a file outside the staging subdirectories', () => {
    const { staging, file } = setup('outside');
    const hex = Buffer.from(key(3), 'latin1').toString('hex');
    for (const rel of [`../${'a'.repeat(32)}`, `a-0123abcd/../../${'b'.repeat(32)}`, `a-012/${'a'.repeat(32)}`, `a-0123abcd/x/${'a'.repeat(32)}`]) {
      const target = path.join(staging, rel);
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, Buffer.alloc(4096)); // there, so only the name keeps it out
      appendFileSync(file, `${hex} ${rel} 0 1024\n`);
    }
    expect(Journal.reuse(file, staging, new ChunkIndex(), 1 << 20)).toBe(0);
  });
});
