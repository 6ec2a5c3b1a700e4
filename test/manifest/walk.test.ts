import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Warning } from '../../src/engine/events.js';
import { walkTree } from '../../src/manifest/walk.js';

describe('walkTree', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'dsync-walk-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('lists a tree in name order, skipping names that are not UTF-8 with a warning', () => {
    mkdirSync(path.join(root, 'd'));
    writeFileSync(path.join(root, 'd', 'b.txt'), 'b');
    writeFileSync(path.join(root, 'a.txt'), 'a');
    // A valid name that holds U+FFFD itself, and one whose bytes are not UTF-8 at all.
    writeFileSync(path.join(root, 'd', 'r\uFFFDplacement'), 'r');
    writeFileSync(Buffer.concat([Buffer.from(path.join(root, 'd') + '/bad-'), Buffer.from([0xff, 0xfe])]), 'x');
    const warnings: Warning[] = [];
    const rels = [...walkTree(root, { onWarning: (w) => warnings.push(w) })].map((i) => i.rel);
    expect(rels).toEqual(['', 'a.txt', 'd', 'd/b.txt', 'd/r\uFFFDplacement']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/not valid UTF-8 in d/);
  });
});
