/**
 * --bwlimit: a token bucket shared by every stream of a run, so the total holds however many
 * streams there are. The burst is a tenth of a second of the rate (at least 256 KiB, one large
 * frame), so the limit holds over any window longer than that.
 */
export class RateLimit {
  private tokens: number;
  private last = performance.now();
  private readonly burst: number;
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly bytesPerSecond: number) {
    this.burst = Math.max(bytesPerSecond / 10, 256 * 1024);
    this.tokens = this.burst;
  }

  /** Wait until `n` bytes may be sent; callers are served in order. */
  take(n: number): Promise<void> {
    const turn = this.tail.then(() => this.wait(n));
    this.tail = turn;
    return turn;
  }

  private async wait(n: number): Promise<void> {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
    this.tokens -= n; // may go negative: a frame larger than the burst waits for its whole size
    if (this.tokens < 0) await new Promise((r) => setTimeout(r, (-this.tokens / this.bytesPerSecond) * 1000));
  }
}
