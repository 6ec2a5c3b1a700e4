const SLICE_MS = 4;

/**
 * Iterates `source` with up to `limit` items pulled ahead of the consumer, starting at once: a
 * producer (the source scan) runs while the consumer is not ready yet (the connection is still
 * being made), and keeps going while the consumer waits on something else. An error of the source
 * reaches the consumer after the items before it.
 */
export class ReadAhead<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private finished = false;
  private failure: { error: unknown } | null = null;
  private stopped = false;
  private wakeConsumer: (() => void) | null = null;
  private wakeProducer: (() => void) | null = null;

  constructor(
    private readonly source: AsyncIterator<T>,
    private readonly limit: number,
  ) {
    void this.pump();
  }

  private async pump(): Promise<void> {
    let slice = performance.now();
    try {
      while (!this.stopped) {
        // A source answered from memory never yields to the event loop by itself: let I/O in
        // (the connection being made) every few milliseconds.
        if (performance.now() - slice > SLICE_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          slice = performance.now();
        }
        if (this.items.length - this.head >= this.limit) {
          await new Promise<void>((resolve) => (this.wakeProducer = resolve));
          continue;
        }
        const r = await this.source.next();
        if (r.done) break;
        this.items.push(r.value);
        this.wake('consumer');
      }
    } catch (error) {
      this.failure = { error };
    }
    this.finished = true;
    this.wake('consumer');
  }

  private wake(who: 'consumer' | 'producer'): void {
    const w = who === 'consumer' ? this.wakeConsumer : this.wakeProducer;
    if (who === 'consumer') this.wakeConsumer = null;
    else this.wakeProducer = null;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    try {
      for (;;) {
        if (this.head < this.items.length) {
          const item = this.items[this.head++]!;
          if (this.head > 1024 && this.head * 2 > this.items.length) {
            this.items = this.items.slice(this.head); // drop what was consumed, now and then
            this.head = 0;
          }
          this.wake('producer');
          yield item;
          continue;
        }
        if (this.failure) throw this.failure.error;
        if (this.finished) return;
        await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
      }
    } finally {
      this.stop();
    }
  }

  /** No more items wanted: the producer stops at its next step. */
  stop(): void {
    this.stopped = true;
    this.wake('producer');
  }
}
