import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { DsyncError, toDsyncError } from '../errors/dsync-error.js';
import { EXIT } from '../errors/exit-codes.js';
import type { RunOptions } from '../protocol/hello.js';
import { decodeHandshake, encodeHandshake, MSG, PROTOCOL_VERSION } from '../protocol/messages.js';
import { Peer } from '../protocol/peer.js';
import type { Connection } from '../transport/connection.js';
import { helperShell } from '../util/helper-shell.js';
import { RateLimit } from '../util/rate-limit.js';
import { VERSION } from '../version.js';
import { openDataStreams, parseOffer } from './data-plane.js';
import type { Endpoint } from './endpoint.js';
import { worstWarning, type ItemEvent, type Reporter, type RunStats, type Warning } from './events.js';
import { runReceiver } from './receiver.js';
import { runSender, scanSource } from './sender.js';

export interface SyncRequest {
  src: Endpoint;
  dst: Endpoint;
  options: RunOptions;
  /** Reach the agent for the remote side (or, for a local run, a local agent). */
  connect: (remote: Endpoint | null) => Promise<Connection>;
}

export interface SyncResult {
  stats: RunStats;
  exitCode: number;
}

/**
 * Run one sync from the client's seat: this process plays the side that is local (the sender for
 * a push or a local run, the receiver for a pull) and an agent plays the other, over whatever
 * connection `connect` opens. Warnings from both sides decide the exit code.
 */
export async function runSync(req: SyncRequest, reporter: Reporter): Promise<SyncResult> {
  const { src, dst, options } = req;
  if (src.host && dst.host) throw new DsyncError('USAGE', 'source and destination cannot both be remote');
  const pull = src.host !== null;
  if (!src.host && !dst.host) await checkLocalPair(src.path, dst.path);

  const codes: Warning['code'][] = [];
  const local: Reporter = {
    item: (e) => reporter.item(e),
    progress: (d) => reporter.progress(d),
    planned: (b) => reporter.planned(b),
    phase: (p) => reporter.phase(p),
    streams: (b) => reporter.streams(b),
    warning(w) {
      if (!w.recovered) codes.push(w.code);
      reporter.warning(w);
    },
  };
  // A pull receives here: see agent.ts for why the helper shell starts this early.
  if (pull && !options.dryRun) helperShell.warm();
  const conn = await req.connect(pull ? src : dst.host ? dst : null);
  // A push scans its source while the agent starts (a remote shell and a Node.js process take
  // 0.2-0.3 s). Not before: the scan's synchronous work (the stat cache, thousands of lstat
  // calls) held up the SSH handshake's replies, and the agent started 50-100 ms later.
  const scanning = pull ? null : scanSource({ ...options, root: src.path, reporter: local });
  scanning?.catch(() => {}); // awaited below, after the handshake (a source that cannot be read is reported then)
  const peer = new Peer(conn.input, conn.output, conn.label, { skipBanner: true });
  conn.onLost((err) => peer.fail(err));
  peer.onEvent = (ev) => {
    if (ev.kind === 'item') reporter.item(ev as unknown as ItemEvent);
    else if (ev.kind === 'warning') local.warning(ev as unknown as Warning);
  };
  // Parallel streams only where this connection can open them (-e reaches no unix socket).
  const streams = conn.streamTargets.includes(options.transport === 'tcp' ? 'tcp' : 'socket') ? options.streams : 1;
  if (options.bwlimit) peer.rateLimit = new RateLimit(options.bwlimit);
  let ticker: NodeJS.Timeout | undefined;
  let finished = false;
  try {
    await peer.send(MSG.HELLO, encodeHandshake({ dsyncVersion: VERSION, role: pull ? 'sender' : 'receiver', path: (pull ? src : dst).path, options: { ...options, streams } }));
    peer.watch(options.timeout);
    const welcome = await peer.expect(MSG.WELCOME);
    const { version, body } = decodeHandshake(welcome.payload, `handshake from ${conn.label}`);
    if (version !== PROTOCOL_VERSION) {
      throw new DsyncError('PROTOCOL_VERSION', `${conn.label} runs dsync ${String(body.dsyncVersion)} (protocol ${version}), this is dsync ${VERSION} (protocol ${PROTOCOL_VERSION}); install the same version on both sides`);
    }
    const offer = parseOffer(body.data, streams);
    if (offer) {
      await openDataStreams(conn, offer, streams, peer, !pull);
      ticker = setInterval(() => reporter.streams(peer.streamTraffic()), 500);
    }
    const stats = pull
      ? await runReceiver(peer, { ...options, root: dst.path, reporter: local })
      : await runSender(peer, { ...options, root: src.path, reporter: local }, await scanning!);
    finished = true;
    peer.end();
    stats.streams = peer.streamTraffic();
    reporter.streams(stats.streams);
    const worst = worstWarning(codes);
    return { stats, exitCode: worst ? EXIT[worst] : EXIT.OK };
  } catch (err) {
    let e = toDsyncError(err);
    if (e.code === 'CONN_LOST') e = (await peer.remoteError(1000)) ?? e;
    await peer.sendError(e);
    throw await conn.explain(e, peer.beforeAgent);
  } finally {
    clearInterval(ticker);
    peer.unwatch();
    await (await scanning?.catch(() => null))?.close(); // a run that failed before sending
    await conn.close(finished);
  }
}

/** Refuse a local run that could never end well: missing source, or a destination inside it. */
async function checkLocalPair(src: string, dst: string): Promise<void> {
  let realSrc: string;
  try {
    realSrc = await fsp.realpath(src);
    await fsp.access(realSrc, fsp.constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DsyncError('SOURCE', `source ${src}: ${code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : String(code)}`);
  }
  const realDst = await realpathOfExistingPrefix(path.resolve(dst));
  if (realDst === realSrc || realDst.startsWith(realSrc + path.sep)) {
    throw new DsyncError('USAGE', `destination ${dst} is inside the source ${src}; choose a destination outside it`);
  }
}

async function realpathOfExistingPrefix(p: string): Promise<string> {
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(await fsp.realpath(p), ...rest.reverse());
    } catch {
      const parent = path.dirname(p);
      if (parent === p) return path.join(p, ...rest.reverse());
      rest.push(path.basename(p));
      p = parent;
    }
  }
}
