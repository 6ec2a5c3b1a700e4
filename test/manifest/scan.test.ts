import { appendFileSync, mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cutter } from '../../src/chunker/cdc.js';
import { DEFAULT_PARAMS as P } from '../../src/chunker/params.js';
import type { Warning } from '../../src/engine/events.js';
import { unhashed } from '../../src/manifest/codec.js';
import type { Entry } from '../../src/manifest/entry.js';
import { readAnnounced, scanTree, type ScanOptions } from '../../src/manifest/scan.js';
import { StatCache } from '../../src/manifest/stat-cache.js';
import { scratchWithCaches } from '../helpers/cli.js';
import { noise } from '../helpers/data.js';

const s = scratchWithCaches('dsync-scan-');

/** Scan `root` as a sender does, with its stat cache; the file entries and the bytes read. */
async function scan(root: string, quickCheck: boolean, warnings: Warning[] = []) {
  let read = 0;
  const opts: ScanOptions = { cutter: new Cutter(P), cache: await StatCache.load(root, P), quickCheck, onWarning: (w) => warnings.push(w), onRead: (n) => (read += n) };
  const entries: Entry[] = [];
  for await (const e of scanTree(root, opts)) entries.push(e);
  await opts.cache.save(root, P, entries);
  return { files: new Map(entries.filter((e) => e.type === 'file').map((e) => [e.path, e])), read, opts };
}

describe('scanning a source with the quick check', () => {
  it('reads no file on first contact, none that did not move since, and every one that moved, even to the same size and mtime', async () => {
    const root = path.join(s.dir, 'src');
    mkdirSync(root);
    const f = path.join(root, 'a.bin');
    writeFileSync(f, noise(100_000, 1));
    writeFileSync(path.join(root, 'b.bin'), noise(50_000, 2));
    utimesSync(f, 1_600_000_000, 1_600_000_000);

    const first = await scan(root, true);
    expect(first.read).toBe(0);
    expect([...first.files.values()].every(unhashed)).toBe(true);
    expect(first.files.get('a.bin')).toMatchObject({ size: 100_000, mtimeNs: 1_600_000_000_000_000_000n });

    const again = await scan(root, true);
    expect(again.read).toBe(0);

    writeFileSync(f, noise(100_000, 3)); // other bytes, same size, and the mtime put back
    utimesSync(f, 1_600_000_000, 1_600_000_000);
    const moved = await scan(root, true);
    expect(moved.read).toBe(100_000);
    expect(unhashed(moved.files.get('a.bin')!)).toBe(false);
    expect(unhashed(moved.files.get('b.bin')!)).toBe(true);

    // --checksum: every file the cache cannot vouch for is read (b.bin was never read).
    const checksum = await scan(root, false);
    expect(checksum.read).toBe(50_000);
    expect([...checksum.files.values()].some(unhashed)).toBe(false);
  });

  it('reads a file announced unread when its list is wanted, and reports one that changed since', async () => {
    const root = path.join(s.dir, 'later');
    mkdirSync(root);
    const f = path.join(root, 'c.bin');
    writeFileSync(f, noise(80_000, 4));
    const warnings: Warning[] = [];
    const { files, opts } = await scan(root, true, warnings);
    const announced = files.get('c.bin')!;
    const read = await readAnnounced(f, announced, opts);
    expect(read?.chunks?.totalSize()).toBe(80_000);
    expect(read?.stat?.ino).toBe(statSync(f).ino);
    appendFileSync(f, 'more');
    expect(await readAnnounced(f, announced, opts)).toBeNull();
    expect(warnings).toEqual([expect.objectContaining({ code: 'VANISHED', path: 'c.bin', message: expect.stringMatching(/changed during the run/) })]);
  });
});
