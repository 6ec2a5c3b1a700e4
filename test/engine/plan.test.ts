import { describe, expect, it } from 'vitest';
import { ChunkList } from '../../src/chunker/chunk-list.js';
import { decide } from '../../src/engine/plan.js';
import type { Entry } from '../../src/manifest/entry.js';

const chunks = (fill: number) => new ChunkList(Buffer.alloc(32, fill), Uint32Array.from([10]));
const file = (over: Partial<Entry> = {}): Entry => ({ path: 'a', type: 'file', mode: 0o644, mtimeNs: 1_000_000_000n, size: 10, chunks: chunks(1), ...over });

describe('planner', () => {
  it('creates what is missing', () => expect(decide(file(), undefined)).toBe('new'));
  it('leaves identical files alone', () => expect(decide(file(), file())).toBe('none'));
  it('updates only metadata when the chunks match', () => {
    expect(decide(file(), file({ mode: 0o600 }))).toBe('meta');
    expect(decide(file(), file({ mtimeNs: 2_000_000_000n }))).toBe('meta');
  });
  it('tolerates the sub-microsecond rounding of utimes', () => expect(decide(file(), file({ mtimeNs: 1_000_000_400n }))).toBe('none'));
  it('decides content by chunk hashes, never by size and mtime', () => {
    // Same size, same mtime, different bytes: must be transferred.
    expect(decide(file(), file({ chunks: chunks(2) }))).toBe('changed');
  });
  it('takes a file announced unread as unchanged when size and mtime match, and asks for it otherwise', () => {
    const unread = (over: Partial<Entry> = {}) => file({ chunks: undefined, ...over });
    expect(decide(unread(), file({ chunks: chunks(2) }))).toBe('none');
    expect(decide(unread({ mode: 0o600 }), file())).toBe('meta');
    expect(decide(unread({ size: 11 }), file())).toBe('changed');
    expect(decide(unread({ mtimeNs: 2_000_000_000n }), file())).toBe('changed');
    expect(decide(unread(), undefined)).toBe('new');
  });
  it('replaces an entry of another type', () => {
    expect(decide(file(), { path: 'a', type: 'dir', mode: 0o755, mtimeNs: 0n, size: 0 })).toBe('changed');
  });
  it('compares symlinks by target', () => {
    const l = (target: string): Entry => ({ path: 'l', type: 'symlink', mode: 0o777, mtimeNs: 0n, size: 0, target });
    expect(decide(l('x'), l('x'))).toBe('none');
    expect(decide(l('x'), l('y'))).toBe('changed');
  });
});
