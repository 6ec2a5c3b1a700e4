import { PassThrough, Transform } from 'node:stream';
import { DEFAULT_PARAMS } from '../../src/chunker/params.js';
import type { Compression } from '../../src/codec/chunk-codec.js';
import { nullReporter, type Reporter } from '../../src/engine/events.js';
import { runReceiver } from '../../src/engine/receiver.js';
import { runSender } from '../../src/engine/sender.js';
import { Peer } from '../../src/protocol/peer.js';

export interface ThroughOptions {
  tamper?: Transform; // on the data path, from the sender to the receiver
  back?: Transform; // on the way from the receiver to the sender
  reporter?: Reporter; // the receiver's
  onSent?: () => void; // the sender is done
  compression?: Compression;
  checksum?: boolean; // -c: among other things, the receiver checks every chunk's hash
}

/**
 * A stretch of wire: like a pipe, a socket or an SSH channel, it has copied what was written by
 * the time the write's callback comes. A PassThrough hands the very buffer on, and the sender
 * gives its read slabs back to their pools on that callback (see Peer.write).
 */
function wire(): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      done(null, Buffer.from(chunk));
    },
  });
}

/** Sender and receiver in one process over in-memory streams. */
export async function syncThrough(src: string, dst: string, { tamper = new PassThrough(), back = new PassThrough(), reporter = nullReporter, onSent, compression = { kind: 'none' }, checksum = false }: ThroughOptions = {}) {
  const toReceiver = new PassThrough();
  const toSender = new PassThrough();
  const out = wire();
  const ret = wire();
  out.pipe(tamper).pipe(toReceiver);
  ret.pipe(back).pipe(toSender);
  const sender = new Peer(toSender, out, 'receiver');
  const receiver = new Peer(toReceiver, ret, 'sender');
  const [stats] = await Promise.all([
    runSender(sender, { root: src, params: DEFAULT_PARAMS, compression, filters: [], verify: false, checksum, reporter: nullReporter }).then((stats) => {
      onSent?.();
      return stats;
    }),
    runReceiver(receiver, { root: dst, destIsDir: false, deleteExtra: false, dryRun: false, filters: [], verify: false, checksum, waitLock: 0, atomic: false, keep: 2, stagingMaxAge: 7 * 86400, stagingMaxSize: 2 ** 40, reporter }),
  ]);
  return stats;
}

