import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MSG } from '../../src/protocol/messages.js';
import { Peer } from '../../src/protocol/peer.js';

describe('Peer.sendData', () => {
  it('says when the stream no longer needs a frame, not before', async () => {
    const output = new PassThrough({ highWaterMark: 16 });
    const peer = new Peer(new PassThrough(), output, 'test');
    let written = false;
    const data = Buffer.alloc(64 * 1024, 7);
    // Nothing reads the far end: the frame waits in the stream, and so must the slab under it.
    void peer.sendData(MSG.CHUNK, Buffer.from('header'), data, () => (written = true));
    await new Promise((r) => setImmediate(r));
    expect(written).toBe(false);
    output.resume();
    await new Promise((r) => output.once('drain', r));
    expect(written).toBe(true);
  });
});

describe('Peer.dataJoined', () => {
  it('holds data frames until every data stream has joined, so none leaves on the control stream or on too few streams', async () => {
    const control = new PassThrough();
    const peer = new Peer(new PassThrough(), control, 'test');
    let joined!: () => void;
    peer.dataJoined = new Promise<void>((r) => (joined = r));
    const sent = peer.sendData(MSG.CHUNK, Buffer.alloc(100, 1));
    await new Promise((r) => setImmediate(r));
    expect(control.readableLength).toBe(0); // nothing went out yet, not even on the control stream
    const streams = [new PassThrough(), new PassThrough()];
    for (const out of streams) peer.attach({ input: new PassThrough(), output: out }, false);
    joined();
    await sent;
    await peer.sendData(MSG.CHUNK, Buffer.alloc(100, 2));
    expect(control.readableLength).toBe(0);
    expect(streams.map((o) => o.readableLength > 0)).toEqual([true, true]);
  });
});

describe('Peer.next', () => {
  it('lets the event loop run during a long burst of queued frames', async () => {
    const input = new PassThrough();
    const peer = new Peer(input, new PassThrough(), 'test');
    const sender = new Peer(new PassThrough(), input, 'far end');
    for (let i = 0; i < 2000; i++) await sender.send(MSG.WANT_END);
    await new Promise((r) => setImmediate(r)); // every frame is queued now
    // The work per frame stands for a receiver's (verifying and writing a chunk); a thread-pool
    // completion, here a macrotask, must get its turn long before the burst has been handed out.
    let turnAt = -1;
    setImmediate(() => (turnAt = handed));
    let handed = 0;
    while (handed < 2000) {
      expect((await peer.next())?.type).toBe(MSG.WANT_END);
      handed++;
      const until = performance.now() + 0.05;
      while (performance.now() < until);
    }
    expect(turnAt).toBeGreaterThanOrEqual(0);
    expect(turnAt).toBeLessThan(500);
  });
});
