import { describe, expect, it } from 'vitest';
import { Limiter } from '../../src/util/limiter.js';

describe('Limiter', () => {
  it('runs at most max tasks at once, the waiting ones in order, a task marked first ahead of them', async () => {
    const limiter = new Limiter(1);
    const started: string[] = [];
    let release!: () => void;
    const blocker = limiter.run(() => new Promise<void>((r) => (release = r)));
    const task = (name: string) => async () => {
      started.push(name);
    };
    const done = [limiter.run(task('a')), limiter.run(task('b')), limiter.run(task('urgent'), true)];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([]); // the one slot is taken
    release();
    await Promise.all([blocker, ...done]);
    expect(started).toEqual(['urgent', 'a', 'b']);
  });
});
