import os from 'node:os';
import path from 'node:path';
import { DsyncError, toDsyncError } from '../errors/dsync-error.js';
import { AGENT_MARK } from '../protocol/banner.js';
import { parseHello } from '../protocol/hello.js';
import { decodeHandshake, encodeHandshake, jsonPayload, MSG, PROTOCOL_VERSION } from '../protocol/messages.js';
import { Peer } from '../protocol/peer.js';
import { helperShell } from '../util/helper-shell.js';
import { RateLimit } from '../util/rate-limit.js';
import { VERSION } from '../version.js';
import { DataPlaneServer } from './data-plane.js';
import type { Reporter } from './events.js';
import { runReceiver } from './receiver.js';
import { runSender } from './sender.js';

/**
 * `dsync agent`: the far end of a run, on stdin/stdout. It plays whichever role the client asks
 * for, forwards what it reports as EVENT frames, and turns any failure into an ERROR frame.
 * Returns the process exit code.
 */
export async function runAgent(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<number> {
  // First of all: the client skips what the remote shell printed before this point.
  output.write(AGENT_MARK);
  const peer = new Peer(input as import('node:stream').Readable, output as import('node:stream').Writable, 'client');
  let data: DataPlaneServer | undefined;
  try {
    const f = await peer.expect(MSG.HELLO);
    const { version, body } = decodeHandshake(f.payload, 'handshake');
    if (version !== PROTOCOL_VERSION) {
      throw new DsyncError('PROTOCOL_VERSION', `incompatible dsync versions: the client speaks protocol ${version} (dsync ${String(body.dsyncVersion)}), this side speaks ${PROTOCOL_VERSION} (dsync ${VERSION}); install the same dsync version on both sides`);
    }
    const hello = parseHello(body);
    const o = hello.options;
    // A receiver flushes and marks its staging area through this shell: started now, while this
    // process is small, and before any data stream (see util/helper-shell.ts).
    if (hello.role === 'receiver' && !o.dryRun) helperShell.warm();
    if (o.streams > 1) data = await DataPlaneServer.open(o.transport, o.streams, peer, hello.role === 'sender');
    // Sending, chunks wait for every stream: the client's wants can come before the last joins.
    if (data && hello.role === 'sender') peer.dataJoined = data.ready;
    if (o.bwlimit) peer.rateLimit = new RateLimit(o.bwlimit);
    await peer.send(MSG.WELCOME, encodeHandshake({ dsyncVersion: VERSION, data: data?.offer }));
    const send = (ev: object) => {
      peer.send(MSG.EVENT, jsonPayload(ev)).catch(() => {});
    };
    const reporter: Reporter = {
      item: (e) => {
        if (hello.options.reportItems) send({ kind: 'item', ...e });
      },
      warning: (w) => send({ kind: 'warning', ...w }),
      progress: () => {}, // the client measures progress on its own side of the stream
      planned: () => {},
      phase: () => {},
      streams: () => {},
    };
    peer.watch(o.timeout);
    // A remote path is relative to the login directory, and ~ means it, as with rsync and scp.
    const root = hello.path === '~' ? os.homedir() : hello.path.startsWith('~/') ? path.join(os.homedir(), hello.path.slice(2)) : hello.path;
    if (hello.role === 'receiver') {
      await runReceiver(peer, { ...o, root, reporter });
    } else {
      await runSender(peer, { ...o, root, reporter });
    }
    peer.end();
    return 0;
  } catch (err) {
    const e = toDsyncError(err);
    await peer.sendError(e);
    peer.end();
    return e.exitCode;
  } finally {
    await data?.close();
  }
}
