import { describe, expect, it } from 'vitest';
import { ReadAhead } from '../../src/util/read-ahead.js';

async function* counting(n: number, pulled: { count: number }, failAt = -1): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    if (i === failAt) throw new Error(`failed at ${i}`);
    pulled.count++;
    yield i;
  }
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('ReadAhead', () => {
  it('pulls ahead before anyone iterates, up to its limit, and hands items over in order', async () => {
    const pulled = { count: 0 };
    const ahead = new ReadAhead(counting(100, pulled), 10);
    await settle();
    expect(pulled.count).toBe(10); // ran ahead, and no further than the limit
    const got: number[] = [];
    for await (const x of ahead) got.push(x);
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('delivers the items before a failure, then the failure', async () => {
    const ahead = new ReadAhead(counting(10, { count: 0 }, 5), 100);
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const x of ahead) got.push(x);
      })(),
    ).rejects.toThrow('failed at 5');
    expect(got).toEqual([0, 1, 2, 3, 4]);
  });

  it('stops pulling once stopped', async () => {
    const pulled = { count: 0 };
    const ahead = new ReadAhead(counting(1_000_000, pulled), 4);
    await settle();
    ahead.stop();
    for await (const x of ahead) if (x > 2) break;
    await settle();
    expect(pulled.count).toBeLessThan(10);
  });
});
