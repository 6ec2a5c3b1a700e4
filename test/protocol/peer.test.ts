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
