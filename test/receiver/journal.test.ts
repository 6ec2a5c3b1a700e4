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

function setup(name: string) {
  const dir = path.join(tmp.dir, name);
  const staging = path.join(dir, 'staging');
  mkdirSync(path.join(staging, 'a'), { recursive: true });
  const staged = path.join(staging, 'a', 'a'.repeat(32));
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

  it('is read back as chunks held in staging; a torn last line is skipped', () => {
    const { staging, staged, file, journal } = setup('reuse');
    journal.record(staged, [
      { key: key(7), offset: 0, length: 2048 },
      { key: key(8), offset: 2048, length: 2048 },
    ]);
    journal.close();
    appendFileSync(file, `${Buffer.from(key(9), 'latin1').toString('hex')} a/${'a'.repeat(32)} 40`); // killed mid-line
    const index = new ChunkIndex();
    expect(Journal.reuse(file, staging, index, 1 << 20)).toBe(2);
    expect(index.get(key(8))).toMatchObject({ file: staged, offset: 2048, length: 2048 });
    expect(index.get(key(9))).toBeUndefined();
  });
});
