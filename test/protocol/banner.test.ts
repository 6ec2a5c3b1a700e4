import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DsyncError } from '../../src/errors/dsync-error.js';
import { AGENT_MARK, BannerSkipper, MAX_BANNER } from '../../src/protocol/banner.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { MSG } from '../../src/protocol/messages.js';
import { Peer } from '../../src/protocol/peer.js';

/** Feed `bytes` in pieces of the given sizes (cycled); what the skipper passes on, joined. */
function feed(skipper: BannerSkipper, bytes: Buffer, splits: number[]): Buffer {
  const out: Buffer[] = [];
  for (let pos = 0, i = 0; pos < bytes.length; ) {
    const n = splits[i++ % splits.length]!;
    const rest = skipper.push(bytes.subarray(pos, pos + n));
    if (rest) out.push(Buffer.from(rest));
    pos += n;
  }
  return Buffer.concat(out);
}

describe('banner skipper (sans-IO): what the remote shell prints before the agent is skipped', () => {
  it('passes on exactly what follows the mark, whatever came before it and however it is split', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.uint8Array({ maxLength: 3000 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }),
        (banner, after, splits) => {
          fc.pre(Buffer.from(banner).indexOf(AGENT_MARK) < 0);
          const skipper = new BannerSkipper('lab');
          expect(feed(skipper, Buffer.concat([banner, AGENT_MARK, after]), splits).equals(Buffer.from(after))).toBe(true);
          expect(skipper.done).toBe(true);
        },
      ),
    );
  });

  it('names the first line of what it skips, until the mark has come', () => {
    const skipper = new BannerSkipper('lab');
    expect(skipper.push(Buffer.from('Welcome to the lab\r\nLast login: never\n'))).toBeNull();
    expect(skipper.firstLine()).toBe('Welcome to the lab');
    expect(skipper.done).toBe(false);
  });

  it('gives up with a clear error after MAX_BANNER bytes without the mark', () => {
    const skipper = new BannerSkipper('lab');
    const line = Buffer.from('y\n');
    expect(feed(skipper, Buffer.concat([Buffer.alloc(MAX_BANNER - 2, 'y'), AGENT_MARK.subarray(0, -1)]), [4096])).toEqual(Buffer.alloc(0));
    let err: unknown;
    try {
      for (let i = 0; i < 10; i++) skipper.push(line);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DsyncError);
    expect((err as DsyncError).code).toBe('PROTOCOL');
    expect((err as DsyncError).message).toMatch(/^lab printed more than 64 KiB instead of starting dsync's agent, beginning "y+".*startup files/);
  });
});

describe('Peer with skipBanner', () => {
  it('reads the frames after the mark, and says what came before it while it has not come', async () => {
    const input = new PassThrough();
    const peer = new Peer(input, new PassThrough(), 'lab', { skipBanner: true });
    input.write('conda: environment base activated\n');
    await new Promise((r) => setImmediate(r));
    expect(peer.beforeAgent).toBe('conda: environment base activated');
    input.write(Buffer.concat([AGENT_MARK, encodeFrame(MSG.WANT_END)]));
    expect((await peer.next())?.type).toBe(MSG.WANT_END);
    expect(peer.beforeAgent).toBeUndefined();
  });

  it('without it, the same bytes are a corrupt stream', async () => {
    const input = new PassThrough();
    const peer = new Peer(input, new PassThrough(), 'lab');
    input.write(Buffer.concat([Buffer.from('Welcome\n'), AGENT_MARK, encodeFrame(MSG.WANT_END)]));
    await expect(peer.next()).rejects.toThrow(/corrupt data stream/);
  });
});
