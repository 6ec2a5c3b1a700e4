import { Transform, type Duplex, type Readable, type Writable } from 'node:stream';
import { Opener, Sealer, type Direction } from '../codec/aead.js';
import { DsyncError } from '../errors/dsync-error.js';

export interface ByteStreams {
  input: Readable;
  output: Writable;
}

/**
 * Wrap a raw socket of `--transport tcp` in the AEAD record layer (codec/aead.ts): what is written
 * to `output` leaves sealed, what arrives is opened before anyone reads it from `input`. A record
 * that fails authentication, or a stream cut inside a record, errors `input`.
 */
export function sealStreams(sock: Duplex, key: Buffer, stream: number, sending: Direction): ByteStreams {
  const sealer = new Sealer(key, sending, stream);
  const opener = new Opener(key, (1 - sending) as Direction, stream);
  const output = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      for (const part of sealer.seal(chunk)) this.push(part);
      cb();
    },
  });
  const input = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        for (const plain of opener.push(chunk)) this.push(plain);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb) {
      cb(opener.pending ? new DsyncError('CONN_LOST', `data stream ${stream} was cut in the middle of a record`) : null);
    },
  });
  output.pipe(sock);
  sock.pipe(input);
  sock.on('error', (err) => input.destroy(err));
  sock.on('close', () => {
    if (!input.writableEnded) input.destroy(new DsyncError('CONN_LOST', `data stream ${stream} closed unexpectedly`));
  });
  input.on('close', () => sock.destroy());
  return { input, output };
}
