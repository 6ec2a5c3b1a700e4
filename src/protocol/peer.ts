import type { Readable, Writable } from 'node:stream';
import { DsyncError, toDsyncError } from '../errors/dsync-error.js';
import { FrameDecoder, frameHeader, type Frame } from './frame.js';
import { decodeError, decodeJson, encodeError, MSG, MSG_NAME } from './messages.js';

/** Bytes a Peer may queue on its stream before a send waits; bounds the memory of a fast sender. */
export const QUEUE_LIMIT = 4 * 1024 * 1024;

/**
 * One end of a dsync conversation over any byte stream (child stdio, SSH channel, TCP).
 * Sends respect the stream's backpressure; ERROR frames from the other side surface as thrown
 * DsyncErrors and EVENT frames go to `onEvent`, so role code only sees its own messages.
 */
export class Peer {
  private readonly decoder = new FrameDecoder();
  private readonly queue: Frame[] = [];
  private queued = 0; // payload bytes in `queue`
  private inputEnded = false;
  private inputError: Error | null = null;
  private abortError: Error | null = null;
  private wake: (() => void) | null = null;
  private writeError: Error | null = null;
  private closed = false;
  private readonly waiters = new Set<(err: Error) => void>();
  onEvent: (ev: Record<string, unknown>) => void = () => {};

  constructor(
    input: Readable,
    private readonly output: Writable,
    readonly label: string,
  ) {
    // Input is read all the time, not only when a role asks for the next frame: a side that is
    // busy sending must still take in the other side's small frames, or both can stall on full
    // pipes. Only a large backlog pauses the stream.
    input.on('data', (chunk: Buffer) => {
      this.lastInput = Date.now();
      try {
        for (const f of this.decoder.push(chunk)) {
          this.queue.push(f);
          this.queued += f.payload.length;
        }
      } catch (err) {
        this.inputError = err as DsyncError;
        input.pause();
      }
      if (this.queued > QUEUE_LIMIT * 4) input.pause();
      this.notify();
    });
    input.on('end', () => {
      this.inputEnded = true;
      this.notify();
    });
    input.on('error', (err) => {
      this.inputError ??= new DsyncError('CONN_LOST', `connection to ${this.label} failed: ${err.message}`);
      this.notify();
    });
    // Whichever direction dies first, a send waiting for 'drain' must not wait forever.
    output.on('error', (err) => this.fail(err));
    output.on('close', () => this.fail());
    input.on('close', () => this.fail());
    input.on('end', () => this.fail()); // the other side never half-closes while it still reads
    input.on('error', (err) => this.fail(err));
    this.input = input;
  }

  private readonly input: Readable;
  private lastInput = Date.now();
  private lastOutput = Date.now();
  private timer: NodeJS.Timeout | null = null;

  /**
   * --timeout: send a KEEPALIVE whenever this side has been quiet for a third of `seconds`, and
   * end the run with TIMEOUT if nothing at all arrives from the other side for `seconds`.
   */
  watch(seconds: number): void {
    if (seconds <= 0 || this.timer) return;
    const ms = seconds * 1000;
    this.lastInput = Date.now();
    this.timer = setInterval(() => {
      const now = Date.now();
      if (now - this.lastInput > ms) {
        this.abort(new DsyncError('TIMEOUT', `no data from ${this.label} for ${seconds} s: the other side or the network stalled`));
        this.unwatch();
        return;
      }
      if (now - this.lastOutput > ms / 3 && !this.closed) this.send(MSG.KEEPALIVE).catch(() => {});
    }, Math.max(50, Math.min(1000, ms / 6)));
    this.timer.unref();
  }

  unwatch(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Make the next (or pending) `next()` throw `err`: a local failure that must end the conversation. */
  abort(err: Error): void {
    this.abortError ??= err instanceof DsyncError ? err : toDsyncError(err);
    this.notify();
  }

  /** The transport is gone (some transports cannot say so through stream events alone). */
  fail(err?: Error): void {
    if (err) this.writeError ??= err;
    this.closed = true;
    for (const w of this.waiters) w(this.lost());
    this.waiters.clear();
    this.inputEnded = true;
    this.notify();
  }

  private lost(): DsyncError {
    return new DsyncError('CONN_LOST', `connection to ${this.label} closed unexpectedly${this.writeError ? ` (${this.writeError.message})` : ''}`);
  }

  async send(type: number, payload: Buffer = Buffer.alloc(0), extra?: Buffer): Promise<void> {
    if (this.writeError || this.closed || this.output.destroyed) throw this.lost();
    const len = payload.length + (extra?.length ?? 0);
    this.lastOutput = Date.now();
    // Corked, header and payload leave in one writev instead of a syscall each.
    this.output.cork();
    this.output.write(frameHeader(type, len));
    let ok = this.output.write(payload);
    if (extra) ok = this.output.write(extra);
    this.output.uncork();
    // Waiting for 'drain' at the stream's own small high-water mark (16 KiB for a pipe) makes the
    // two sides take turns; queueing up to QUEUE_LIMIT lets them work at the same time.
    if (!ok && this.output.writableLength >= QUEUE_LIMIT) await this.drain();
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
      if (this.abortError) throw this.abortError;
      const f = this.queue.shift();
      if (f) {
        this.queued -= f.payload.length;
        if (this.input.isPaused() && !this.inputError && this.queued <= QUEUE_LIMIT) this.input.resume();
        if (f.type === MSG.ERROR) throw decodeError(f.payload);
        if (f.type === MSG.EVENT) {
          this.onEvent(decodeJson(f.payload, 'event'));
          continue;
        }
        if (f.type === MSG.KEEPALIVE) continue;
        return f;
      }
      if (this.inputError) throw this.inputError;
      if (this.inputEnded) {
        if (this.decoder.pending) throw this.lost();
        return null;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
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
    this.unwatch();
    if (!this.output.destroyed) this.output.end();
  }
}
