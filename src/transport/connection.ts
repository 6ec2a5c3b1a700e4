import net from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import type { DsyncError } from '../errors/dsync-error.js';

/** A byte stream to a dsync agent, however it was reached (child process, SSH, ...). */
export interface Connection {
  input: Readable;
  output: Writable;
  /** Names the other side in messages: "local agent", "gpu-node-3", ... */
  label: string;
  /**
   * Turn a failure seen on the stream into the most useful error (e.g. "dsync not found on host").
   * `printed`: the stream ended before the agent's mark (see protocol/banner.ts), after this text.
   */
  explain(err: DsyncError, printed?: string): Promise<DsyncError>;
  /** Call `cb` if the connection dies under the stream (the stream itself may not say so). */
  onLost(cb: (err: Error) => void): void;
  /**
   * Open one more byte stream to where the agent listens (a unix socket on its host, or a TCP
   * port): a parallel data stream.
   */
  openStream(target: StreamTarget): Promise<Duplex>;
  /** The kinds of target `openStream` can reach. */
  streamTargets: StreamKind[];
  /**
   * End the conversation and release everything (process, sockets). `finished`: the agent
   * reported its run done (its lock released), so there is no need to wait for it to exit.
   */
  close(finished?: boolean): Promise<void>;
}

export type StreamKind = 'socket' | 'tcp';
export type StreamTarget = { socket: string; host?: undefined } | { host: string; port: number };

/** Reach a stream target directly from this host (a local agent, or TCP to a remote one). */
export function connectDirect(target: StreamTarget): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const sock = 'socket' in target ? net.connect(target.socket) : net.connect({ host: target.host, port: target.port, noDelay: true });
    sock.once('connect', () => {
      sock.off('error', reject);
      resolve(sock);
    });
    sock.once('error', reject);
  });
}
