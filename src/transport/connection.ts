import type { Readable, Writable } from 'node:stream';
import type { DsyncError } from '../errors/dsync-error.js';

/** A byte stream to a dsync agent, however it was reached (child process, SSH, ...). */
export interface Connection {
  input: Readable;
  output: Writable;
  /** Names the other side in messages: "local agent", "gpu-node-3", ... */
  label: string;
  /** Turn a failure seen on the stream into the most useful error (e.g. "dsync not found on host"). */
  explain(err: DsyncError): Promise<DsyncError>;
  /** Call `cb` if the connection dies under the stream (the stream itself may not say so). */
  onLost(cb: (err: Error) => void): void;
  /** End the conversation and release everything (process, sockets). */
  close(): Promise<void>;
}
