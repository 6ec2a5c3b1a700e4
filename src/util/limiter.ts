/** Run at most `max` async tasks at a time; the rest wait their turn in order. */
export class Limiter {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly max: number) {}

  /** `first`: ahead of every task waiting (for work that others wait on). */
  async run<T>(task: () => Promise<T>, first = false): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => (first ? this.queue.unshift(r) : this.queue.push(r)));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}
