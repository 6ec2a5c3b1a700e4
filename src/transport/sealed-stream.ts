import { Transform, Writable, type Duplex, type Readable } from 'node:stream';
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
  // Records go straight to the socket and a write completes when the socket takes more, so the
  // backlog shows in `output.writableLength` (the sender picks the least loaded stream by it). A
  // frame is written corked (header, then payload): writev seals it as one record, not three.
  const sealInto = (parts: Buffer[], cb: (err?: Error | null) => void) => {
    let ok = true;
    for (const record of sealer.seal(parts)) ok = sock.write(record);
    if (ok) cb();
    else sock.once('drain', () => cb());
  };
  const output = new Writable({
    write: (chunk: Buffer, _enc, cb) => sealInto([chunk], cb),
    writev: (chunks, cb) => sealInto(chunks.map((c) => c.chunk as Buffer), cb),
    final: (cb) => sock.end(cb),
  });
  sock.on('close', () => output.destroy());
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
  sock.pipe(input);
  sock.on('error', (err) => input.destroy(err));
  sock.on('close', () => {
    if (!input.writableEnded) input.destroy(new DsyncError('CONN_LOST', `data stream ${stream} closed unexpectedly`));
  });
  input.on('close', () => sock.destroy());
  return { input, output };
}
