import { randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fsp, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { newSessionKey } from '../codec/aead.js';
import { DsyncError } from '../errors/dsync-error.js';
import type { RunOptions } from '../protocol/hello.js';
import type { Peer } from '../protocol/peer.js';
import type { Connection, StreamTarget } from '../transport/connection.js';
import { sealStreams, type ByteStreams } from '../transport/sealed-stream.js';

/**
 * Parallel data streams beside the control connection (--streams N). The agent listens, the
 * client connects N times: over SSH each stream is a channel of its own (own flow-control window)
 * to a unix socket in a private directory; with --transport tcp each is a plain TCP connection
 * sealed with AES-256-GCM under a key that travelled over SSH. Every stream opens with
 *   magic "DSD1" | index:u32be     (in clear)   then   token[32]   (sealed, for tcp)
 * and is accepted once per index, only with the session's token.
 */
const MAGIC = Buffer.from('DSD1');
const TOKEN_LEN = 32;
const JOIN_TIMEOUT_MS = 15_000;

export type DataTransport = RunOptions['transport'];

/** What the agent tells the client in WELCOME: where to connect and how to prove who it is. */
export interface DataOffer {
  target: StreamTarget;
  token: string; // hex
  key?: string; // hex, tcp only
}

export function parseOffer(v: unknown, streams: number): DataOffer | null {
  if (v === undefined || v === null) return null;
  const o = v as Record<string, unknown>;
  const t = o.target as Record<string, unknown> | undefined;
  const hex = (x: unknown, len: number) => typeof x === 'string' && x.length === len * 2 && /^[0-9a-f]+$/.test(x);
  const ok =
    streams > 1 &&
    hex(o.token, TOKEN_LEN) &&
    (o.key === undefined || hex(o.key, 32)) &&
    t !== undefined &&
    ((typeof t.socket === 'string' && t.socket.length < 108 && t.host === undefined) ||
      (typeof t.host === 'string' && net.isIP(t.host) !== 0 && Number.isInteger(t.port) && (t.port as number) > 0 && (t.port as number) < 65536));
  if (!ok) throw new DsyncError('PROTOCOL', 'malformed data stream offer in the handshake');
  return o as unknown as DataOffer;
}

/** The agent's side: listen for the client's data streams and attach each to `peer`. */
export class DataPlaneServer {
  private readonly joined = new Set<number>();
  private readonly sockets = new Set<Duplex>();
  private attached = 0;
  private allAttached!: () => void;
  private joinTimer: NodeJS.Timeout | null = null;
  /**
   * Every stream has joined and is attached to the peer; rejected (CONN_LOST) if they have not
   * within JOIN_TIMEOUT_MS. A sending agent holds its data frames until then (Peer.dataJoined).
   */
  readonly ready: Promise<void>;

  private constructor(
    private readonly server: net.Server,
    private readonly dir: string | null,
    readonly offer: DataOffer,
    private readonly streams: number,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.allAttached = resolve;
      this.joinTimer = setTimeout(() => reject(new DsyncError('CONN_LOST', `only ${this.attached} of ${streams} data streams connected within ${JOIN_TIMEOUT_MS / 1000} s; use --streams 1`)), JOIN_TIMEOUT_MS);
      this.joinTimer.unref();
    });
    this.ready.catch(() => {}); // a failure surfaces where it is awaited
  }

  static async open(transport: DataTransport, streams: number, peer: Peer, sending: boolean): Promise<DataPlaneServer> {
    const token = randomBytes(TOKEN_LEN);
    const key = transport === 'tcp' ? newSessionKey() : null;
    const server = net.createServer();
    let dir: string | null = null;
    let target: StreamTarget;
    if (transport === 'tcp') {
      // The address the client reached this host on over SSH; a local run stays on loopback.
      const host = process.env.SSH_CONNECTION?.split(' ')[2] ?? '127.0.0.1';
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port: 0, backlog: streams }, resolve);
      });
      target = { host, port: (server.address() as net.AddressInfo).port };
    } else {
      dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'dsync-')); // 0700: only this user reaches it
      const socket = path.join(dir, 's');
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ path: socket, backlog: streams }, resolve);
      });
      target = { socket };
    }
    const offer: DataOffer = { target, token: token.toString('hex'), key: key?.toString('hex') };
    const dp = new DataPlaneServer(server, dir, offer, streams);
    process.once('exit', dp.removeDir); // even when a signal ends the agent with process.exit
    server.on('connection', (sock) => {
      dp.sockets.add(sock);
      sock.on('close', () => dp.sockets.delete(sock));
      sock.on('error', () => {}); // a failed join is just dropped; a joined stream reports via the peer
      const timer = setTimeout(() => sock.destroy(), JOIN_TIMEOUT_MS);
      dp.join(sock, token, key)
        .then((s) => {
          clearTimeout(timer);
          if (!s) return sock.destroy();
          peer.attach(s, !sending);
          if (++dp.attached === streams) {
            clearTimeout(dp.joinTimer!);
            dp.allAttached();
          }
        })
        .catch(() => sock.destroy());
    });
    return dp;
  }

  private async join(sock: Duplex, token: Buffer, key: Buffer | null): Promise<ByteStreams | null> {
    const head = await readExactly(sock, MAGIC.length + 4);
    const index = head.readUInt32BE(MAGIC.length);
    if (!head.subarray(0, MAGIC.length).equals(MAGIC) || index >= this.streams || this.joined.has(index)) return null;
    const s = key ? sealStreams(sock, key, index, 1) : { input: sock, output: sock };
    const proof = await readExactly(s.input, TOKEN_LEN);
    if (!timingSafeEqual(proof, token) || this.joined.has(index)) return null;
    this.joined.add(index);
    if (this.joined.size === this.streams) this.server.close(); // no more joins
    return s;
  }

  private readonly removeDir = () => {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  };

  async close(): Promise<void> {
    clearTimeout(this.joinTimer!);
    this.server.close();
    for (const s of this.sockets) s.destroy();
    process.off('exit', this.removeDir);
    this.removeDir();
  }
}

/** The client's side: open `n` streams to what the agent offered and attach them to `peer`. */
export async function openDataStreams(conn: Connection, offer: DataOffer, n: number, peer: Peer, sending: boolean): Promise<void> {
  const token = Buffer.from(offer.token, 'hex');
  const key = offer.key ? Buffer.from(offer.key, 'hex') : null;
  const opened = await Promise.all(
    Array.from({ length: n }, async (_, index) => {
      let sock: Duplex;
      try {
        sock = await conn.openStream(offer.target);
      } catch (err) {
        const where = 'socket' in offer.target ? `over SSH` : `to ${offer.target.host}:${offer.target.port}`;
        throw new DsyncError('CONN_LOST', `cannot open data stream ${index} ${where} (${(err as Error).message}); use --streams 1${key ? ' or --transport ssh' : ''}`);
      }
      const head = Buffer.alloc(MAGIC.length + 4);
      MAGIC.copy(head);
      head.writeUInt32BE(index, MAGIC.length);
      sock.write(head);
      const s = key ? sealStreams(sock, key, index, 0) : { input: sock, output: sock };
      s.output.write(token);
      return s;
    }),
  );
  for (const s of opened) peer.attach(s, !sending);
}

/** Exactly `n` bytes from a stream in paused mode; the rest stays buffered for whoever reads next. */
function readExactly(r: Readable, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tryRead = () => {
      const b = r.read(n) as Buffer | null;
      if (b === null) return;
      cleanup();
      resolve(b);
    };
    const fail = () => {
      cleanup();
      reject(new Error('stream ended during the join'));
    };
    const cleanup = () => {
      r.off('readable', tryRead);
      r.off('end', fail);
      r.off('error', fail);
      r.off('close', fail);
    };
    r.on('readable', tryRead);
    r.on('end', fail);
    r.on('error', fail);
    r.on('close', fail);
    tryRead();
  });
}
