import { describe, expect, it } from 'vitest';
import { ChunkList } from '../../src/chunker/chunk-list.js';
import { ContentIndex } from '../../src/manifest/content-index.js';
import type { Entry } from '../../src/manifest/entry.js';

function file(path: string, fill: number, size = 4, stat = true): Entry {
  const chunks = new ChunkList(Buffer.alloc(32, fill), new Uint32Array([size]));
  return { path, type: 'file', mode: 0o644, mtimeNs: 0n, size, chunks, ...(stat ? { stat: { ino: 1, ctimeNs: 0n } } : {}) };
}

describe('ContentIndex', () => {
  it('finds the files of the same size and digest, and only those', () => {
    const files = [file('a', 1), file('b', 2), file('c', 1), file('d', 1, 8), file('e', 1, 4, false), { path: 'dir', type: 'dir', mode: 0o755, mtimeNs: 0n, size: 4 } as Entry];
    let listed = 0;
    const index = new ContentIndex(() => {
      listed++;
      return files;
    });
    expect(index.find(file('x', 1)).map((d) => d.path)).toEqual(['a', 'c']); // not e: no stat identity
    expect(index.find(file('y', 3))).toEqual([]);
    expect(index.find(file('z', 1, 8)).map((d) => d.path)).toEqual(['d']);
    expect(listed).toBe(1); // indexed once, at the first lookup
  });

  it('finds nothing for a file announced unread, whose content is not known yet', () => {
    const index = new ContentIndex(() => [file('a', 1)]);
    const unread: Entry = { path: 'x', type: 'file', mode: 0o644, mtimeNs: 0n, size: 4 };
    expect(index.find(unread)).toEqual([]);
  });
});
