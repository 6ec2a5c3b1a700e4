import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS } from '../../src/chunker/params.js';
import { cacheFileFor } from '../../src/manifest/stat-cache.js';
import { scratchWithCaches } from '../helpers/cli.js';
import { syncThrough } from '../helpers/in-memory.js';

describe('the end of a run', () => {
  const s = scratchWithCaches();

  // The client ends as soon as it hears the run is done, without waiting for the agent to exit:
  // a next run started right then must find the destination free.
  it('is reported once the receiver has let go of the destination: no lock, no state left', async () => {
    const src = path.join(s.dir, 'src');
    const dst = path.join(s.dir, 'dst');
    mkdirSync(src);
    writeFileSync(path.join(src, 'a.bin'), randomBytes(300_000));
    writeFileSync(path.join(src, 'b.txt'), 'b');
    const state = path.join(s.dir, '.dst.dsync');
    let atDone: { lock: boolean; state: boolean } | null = null;
    const stats = await syncThrough(src, dst, {
      onSent: () => {
        atDone = { lock: existsSync(path.join(state, 'lock')), state: existsSync(state) };
      },
    });
    expect(stats.created).toBe(2);
    expect(atDone).toEqual({ lock: false, state: false });
    // The stat cache is written after DONE, but before the receiver's run returns.
    expect(existsSync(cacheFileFor(dst, DEFAULT_PARAMS))).toBe(true);
  });
});
