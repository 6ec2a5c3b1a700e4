import type { Readable, Writable } from 'node:stream';
import { DsyncError, toDsyncError } from '../errors/dsync-error.js';
import { BannerSkipper } from './banner.js';
import { FrameDecoder, frameHeader, HEADER_LEN, type Frame } from './frame.js';
import { decodeError, decodeJson, encodeError, MSG, MSG_NAME } from './messages.js';
import type { RateLimit } from '../util/rate-limit.js';
import { SlabClasses } from '../util/slab-pool.js';

/** Bytes a Peer may queue on its stream before a send waits; bounds the memory of a fast sender. */
export const QUEUE_LIMIT = 4 * 1024 * 1024;
/** The same for each parallel data stream: (streams x 1 MiB) + 4 MiB queued at most on a side. */
export const STREAM_QUEUE_LIMIT = 1024 * 1024;
/** Longest run of frames handed out back to back before the event loop gets a turn (see next()). */
const TURN_MS = 2;

/** Memory a queued frame holds, as counted against the queue's limit: a pooled one, its slab. */
const held = (f: Frame): number => (f.release ? f.payload.buffer.byteLength : f.payload.length);

/**
 * A data stream that takes no more for now. Only a stream past its own high-water mark emits
 * 'drain' (an SSH channel's mark is its 2 MiB window, a socket's 16 KiB), so both must hold.
 */
function full(o: Writable): boolean {
  return o.writableNeedDrain && o.writableLength >= STREAM_QUEUE_LIMIT;
}

/**
 * One end of a dsync conversation over any byte stream (child stdio, SSH channel, TCP).
 * Sends respect the stream's backpressure; ERROR frames from the other side surface as thrown
 * DsyncErrors and EVENT frames go to `onEvent`, so role code only sees its own messages.
 */
export class Peer {
  private readonly decoders: FrameDecoder[] = [];
  private readonly inputs: Readable[] = [];
  private readonly dataOutputs: Writable[] = [];
  private readonly traffic: number[] = []; // frame bytes each data stream carried, either way
  private nextStream = 0;
  private controlEnded = false;
  private readonly queue: Frame[] = [];
  private queued = 0; // bytes held by `queue`
  // Received chunks that span reads are put together in these (see FrameDecoder): 8 KiB to
  // 1 MiB, up to 1 MiB of free slabs kept per size.
  private readonly slabs = new SlabClasses(16 * 1024, 1024 * 1024, 1024 * 1024);
  private inputEnded = false;
  private inputError: Error | null = null;
  private abortError: Error | null = null;
  private wake: (() => void) | null = null;
  private lastTurn = 0; // when next() last let the event loop run
  private writeError: Error | null = null;
  private closed = false;
  private readonly waiters = new Set<(err: Error) => void>();
  /** Total rate of data frames (bytes/s, --bwlimit) over all streams; 0: unlimited. */
  rateLimit: RateLimit | null = null;
  /**
   * Data streams still joining (the agent's side: see DataPlaneServer): data frames wait for all
   * of them, or the first would leave on the streams joined so far, or on the control stream.
   */
  dataJoined: Promise<void> | null = null;
  onEvent: (ev: Record<string, unknown>) => void = () => {};

  private readonly banner: BannerSkipper | null;

  /**
   * What came before the agent's mark, if the input has not reached it (the agent never started
   * if the input ended there); undefined once it has, or without `skipBanner`.
   */
  get beforeAgent(): string | undefined {
    return this.banner && !this.banner.done ? this.banner.firstLine() : undefined;
  }

  /**
   * `skipBanner`: the input is an agent's output, which starts with whatever the remote shell
   * printed before it, then AGENT_MARK (see banner.ts).
   */
  constructor(
    input: Readable,
    private readonly output: Writable,
    readonly label: string,
    opts: { skipBanner?: boolean } = {},
  ) {
    this.banner = opts.skipBanner ? new BannerSkipper(label) : null;
    this.listen(input, true, -1, this.banner);
    // Whichever direction dies first, a send waiting for 'drain' must not wait forever.
    this.watchOutput(output);
  }

  /**
   * Read frames from `input` into the one queue every stream shares. Input is read all the time,
   * not only when a role asks for the next frame: a side that is busy sending must still take in
   * the other side's small frames, or both can stall on full pipes. Only a large backlog pauses.
   * The end of the control stream ends the conversation; a data stream may end quietly when
   * `eofIsLoss` is false (the sending side: its data streams carry nothing towards it).
   */
  private listen(input: Readable, eofIsLoss: boolean, stream = -1, banner: BannerSkipper | null = null): void {
    const decoder = new FrameDecoder(undefined, { types: [MSG.CHUNK, MSG.CHUNKS], take: (n) => this.slabs.take(n) });
    this.decoders.push(decoder);
    this.inputs.push(input);
    input.on('data', (chunk: Buffer) => {
      this.lastInput = Date.now();
      if (stream >= 0) this.traffic[stream]! += chunk.length;
      try {
        const bytes = banner ? banner.push(chunk) : chunk;
        for (const f of bytes ? decoder.push(bytes) : []) {
          this.queue.push(f);
          this.queued += held(f);
        }
      } catch (err) {
        this.inputError = err as DsyncError;
        input.pause();
      }
      if (this.queued > QUEUE_LIMIT * 4) for (const i of this.inputs) i.pause();
      this.notify();
    });
    const failed = (err: Error) => (stream < 0 ? this.fail(err) : this.breakData(err));
    input.on('error', (err) => {
      this.inputError ??= err instanceof DsyncError ? err : new DsyncError('CONN_LOST', `connection to ${this.label} failed: ${err.message}`);
      failed(err);
    });
    const ended = () => {
      if (stream < 0) this.controlEnded = true;
      if (!eofIsLoss && !decoder.pending) return;
      if (stream < 0) this.fail();
      else this.breakData(this.lost());
    };
    input.on('end', ended); // the other side never half-closes while it still reads
    input.on('close', ended);
    input.resume(); // a stream whose first bytes were read in paused mode (a data stream's join)
  }

  private watchOutput(output: Writable): void {
    output.on('error', (err) => this.fail(err));
    output.on('close', () => this.fail());
  }

  /** Add a data stream: its frames join the same queue, and data frames may leave on it. */
  attach(stream: { input: Readable; output: Writable }, eofIsLoss: boolean): void {
    this.traffic.push(0);
    this.listen(stream.input, eofIsLoss, this.traffic.length - 1);
    stream.output.on('error', (err) => this.breakData(err));
    this.dataOutputs.push(stream.output);
  }

  /**
   * A data stream broke: the run cannot finish (its chunks are lost), but the control stream still
   * works, so the side that noticed can still tell the other why (see remoteError).
   */
  private breakData(err: Error): void {
    const e = err instanceof DsyncError ? err : new DsyncError('CONN_LOST', `a data stream to ${this.label} failed: ${err.message}`);
    this.abort(e);
    for (const w of this.waiters) w(e);
    this.waiters.clear();
  }

  /** Bytes each data stream has carried so far (for progress and the summary). */
  streamTraffic(): number[] {
    return [...this.traffic];
  }

  /** How many data streams data frames are spread over (0: they go on the control stream). */
  get dataStreams(): number {
    return this.dataOutputs.length;
  }

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
  abort(err: unknown): void {
    this.abortError ??= toDsyncError(err);
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
    await this.write(this.output, type, payload, extra);
  }

  /**
   * Send a data frame (a chunk) on the least loaded data stream, so a slow stream does not hold
   * up the others; with no data streams, on the control stream.
   */
  async sendData(type: number, payload: Buffer, extra?: Buffer, written?: () => void): Promise<void> {
    const len = payload.length + (extra?.length ?? 0);
    if (this.dataJoined) {
      await this.dataJoined;
      this.dataJoined = null;
    }
    await this.rateLimit?.take(len);
    const outs = this.dataOutputs;
    if (outs.length === 0) return this.write(this.output, type, payload, extra, written);
    for (;;) {
      // Ties (idle streams) go round-robin, so every stream carries its share from the start.
      let best = -1;
      for (let k = 0; k < outs.length; k++) {
        const i = (this.nextStream + k) % outs.length;
        if (best < 0 || outs[i]!.writableLength < outs[best]!.writableLength) best = i;
      }
      // Every stream has a full queue: wait for whichever drains first. A stream's queue is kept
      // short so that a slow one is passed over instead of being handed a long backlog.
      if (full(outs[best]!)) {
        await this.drain(outs);
        continue;
      }
      this.nextStream = (best + 1) % outs.length;
      this.traffic[best]! += HEADER_LEN + len;
      return this.write(outs[best]!, type, payload, extra, written);
    }
  }

  /** Send `type` on every data stream, then on the control stream: a barrier for each stream. */
  async sendOnAll(type: number, payload: Buffer): Promise<void> {
    for (const o of this.dataOutputs) await this.write(o, type, payload);
    await this.send(type, payload);
  }

  /** `written` is called once the stream no longer needs the frame's bytes (sent, copied or dropped). */
  private async write(out: Writable, type: number, payload: Buffer, extra?: Buffer, written?: () => void): Promise<void> {
    if (this.writeError || this.closed || out.destroyed) throw this.lost();
    const len = payload.length + (extra?.length ?? 0);
    this.lastOutput = Date.now();
    // Corked, header and payload leave in one writev instead of a syscall each.
    out.cork();
    out.write(frameHeader(type, len));
    let ok = out.write(payload, extra ? undefined : written);
    if (extra) ok = out.write(extra, written);
    out.uncork();
    // Waiting for 'drain' at the stream's own small high-water mark (16 KiB for a pipe) makes the
    // two sides take turns; queueing up to QUEUE_LIMIT lets them work at the same time.
    if (!ok && out.writableLength >= QUEUE_LIMIT) await this.drain([out]);
  }

  /** Wait until one of `outs` drains (or the connection fails). */
  private drain(outs: Writable[]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(this.lost());
      const done = (err?: Error) => {
        for (const o of outs) o.off('drain', onDrain);
        this.waiters.delete(done);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      for (const o of outs) o.on('drain', onDrain);
      this.waiters.add(done);
    });
  }

  /** The next frame, or null when the other side closed the stream cleanly. */
  async next(): Promise<Frame | null> {
    for (;;) {
      // Queued frames are handed out without a turn of the event loop; after a few milliseconds
      // of that, one turn, so that thread-pool completions (a receiver's copies of local data,
      // a sender's reads) are not held up behind a burst of frames.
      if (this.queue.length && performance.now() - this.lastTurn > TURN_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        this.lastTurn = performance.now();
      }
      if (this.abortError) throw this.abortError;
      const f = this.queue.shift();
      if (f) {
        this.queued -= held(f);
        if (this.queued <= QUEUE_LIMIT && !this.inputError) for (const i of this.inputs) if (i.isPaused()) i.resume();
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
        if (this.decoders.some((d) => d.pending)) throw this.lost();
        return null;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.lastTurn = performance.now();
    }
  }

  /**
   * After a failure: the other side's own ERROR, if it arrives on the control stream within `ms`.
   * When a data stream breaks (say, a record failed authentication there), the side that noticed
   * explains it on the control stream, which is worth more than "connection reset" seen here.
   */
  async remoteError(ms: number): Promise<DsyncError | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = this.queue.find((q) => q.type === MSG.ERROR);
      if (f) return decodeError(f.payload);
      const left = deadline - Date.now();
      if (this.controlEnded || left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
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
    for (const o of [...this.dataOutputs, this.output]) if (!o.destroyed) o.end();
  }
}
