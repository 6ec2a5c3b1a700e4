import type { Readable, Writable } from 'node:stream';
import { DsyncError } from '../errors/dsync-error.js';
import { FrameDecoder, frameHeader, type Frame } from './frame.js';
import { decodeError, decodeJson, encodeError, MSG, MSG_NAME } from './messages.js';

/**
 * One end of a dsync conversation over any byte stream (child stdio, SSH channel, TCP).
 * Sends respect the stream's backpressure; ERROR frames from the other side surface as thrown
 * DsyncErrors and EVENT frames go to `onEvent`, so role code only sees its own messages.
 */
export class Peer {
  private readonly decoder = new FrameDecoder();
  private readonly queue: Frame[] = [];
  private readonly chunks: AsyncIterator<Buffer>;
  private writeError: Error | null = null;
  private closed = false;
  private readonly waiters = new Set<(err: Error) => void>();
  onEvent: (ev: Record<string, unknown>) => void = () => {};
  /** Payload bytes sent and received, for the run summary. */
  bytesOut = 0;
  bytesIn = 0;

  constructor(
    input: Readable,
    private readonly output: Writable,
    readonly label: string,
  ) {
    this.chunks = input[Symbol.asyncIterator]();
    // Whichever direction dies first, a send waiting for 'drain' must not wait forever.
    output.on('error', (err) => this.fail(err));
    output.on('close', () => this.fail());
    input.on('close', () => this.fail());
    input.on('end', () => this.fail()); // the other side never half-closes while it still reads
    input.on('error', (err) => this.fail(err));
  }

  /** The transport is gone (some transports cannot say so through stream events alone). */
  fail(err?: Error): void {
    if (err) this.writeError ??= err;
    this.closed = true;
    for (const w of this.waiters) w(this.lost());
    this.waiters.clear();
  }

  private lost(): DsyncError {
    return new DsyncError('CONN_LOST', `connection to ${this.label} closed unexpectedly${this.writeError ? ` (${this.writeError.message})` : ''}`);
  }

  async send(type: number, payload: Buffer = Buffer.alloc(0), extra?: Buffer): Promise<void> {
    if (this.writeError || this.closed || this.output.destroyed) throw this.lost();
    const len = payload.length + (extra?.length ?? 0);
    this.bytesOut += len + 5;
    this.output.write(frameHeader(type, len));
    let ok = this.output.write(payload);
    if (extra) ok = this.output.write(extra);
    if (!ok) await this.drain();
  }

  private drain(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(this.lost());
      const done = (err?: Error) => {
        this.output.off('drain', onDrain);
        this.waiters.delete(done);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      this.output.on('drain', onDrain);
      this.waiters.add(done);
    });
  }

  /** The next frame, or null when the other side closed the stream cleanly. */
  async next(): Promise<Frame | null> {
    for (;;) {
      const f = this.queue.shift();
      if (f) {
        if (f.type === MSG.ERROR) throw decodeError(f.payload);
        if (f.type === MSG.EVENT) {
          this.onEvent(decodeJson(f.payload, 'event'));
          continue;
        }
        return f;
      }
      let r: IteratorResult<Buffer>;
      try {
        r = await this.chunks.next();
      } catch (err) {
        throw new DsyncError('CONN_LOST', `connection to ${this.label} failed: ${(err as Error).message}`);
      }
      if (r.done) {
        if (this.decoder.pending) throw this.lost();
        return null;
      }
      this.bytesIn += r.value.length;
      this.queue.push(...this.decoder.push(r.value));
    }
  }

  /** The next frame, which must exist; `expected` names the types allowed here. */
  async expect(...expected: number[]): Promise<Frame> {
    const f = await this.next();
    if (!f) throw this.lost();
    if (!expected.includes(f.type)) {
      throw new DsyncError('PROTOCOL', `unexpected ${MSG_NAME[f.type] ?? `message type ${f.type}`} from ${this.label} (expected ${expected.map((t) => MSG_NAME[t]).join(' or ')})`);
    }
    return f;
  }

  /** Tell the other side why this side is giving up; best effort, the stream may be gone. */
  async sendError(err: DsyncError): Promise<void> {
    try {
      await this.send(MSG.ERROR, encodeError(err.code, err.message));
    } catch {
      // the connection is already gone; the error is reported locally anyway
    }
  }

  end(): void {
    if (!this.output.destroyed) this.output.end();
  }
}
