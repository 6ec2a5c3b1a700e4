import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_NAME_BYTES, MAX_PATH_BYTES, relPathProblem } from '../../src/manifest/entry.js';

/** The rule spelled out plainly: what relPathProblem must answer, however it is computed. */
function reference(p: string): string | null {
  if (p === '') return null;
  if (Buffer.byteLength(p) > MAX_PATH_BYTES) return 'path too long';
  if (p.includes('\0')) return 'path contains NUL';
  for (const part of p.split('/')) {
    if (part === '' || part === '.' || part === '..') return `bad path component '${part}'`;
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) return 'name too long';
  }
  return null;
}

describe('relPathProblem', () => {
  it('answers like the plain rule for any string', () => {
    // Few distinct characters, so that slashes, dots, NULs, long and multi-byte names are common.
    const char = fc.constantFrom('/', '.', 'a', '\0', 'é', '漢', '😀', '\uD800');
    const name = fc.oneof(fc.constantFrom('.', '..', 'a'.repeat(85), 'é'.repeat(128), '漢'.repeat(86), '😀'.repeat(64)), fc.string({ unit: char, maxLength: 12 }));
    const paths = fc.oneof(fc.string({ unit: char, maxLength: 40 }), fc.array(name, { maxLength: 60 }).map((parts) => parts.join('/')));
    fc.assert(
      fc.property(paths, (p) => {
        expect(relPathProblem(p)).toBe(reference(p));
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts ordinary paths and names at the limits', () => {
    expect(relPathProblem('images/cls-000/img-00000.jpg')).toBeNull();
    expect(relPathProblem('a'.repeat(MAX_NAME_BYTES))).toBeNull();
    expect(relPathProblem('a'.repeat(MAX_NAME_BYTES + 1))).toBe('name too long');
    expect(relPathProblem('..a/.b/...')).toBeNull();
    expect(relPathProblem('a/../b')).toBe("bad path component '..'");
  });
});
