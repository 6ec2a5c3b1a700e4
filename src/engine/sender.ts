import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { sha256 } from '../chunker/chunk-file.js';
import { Cutter } from '../chunker/cdc.js';
import type { ChunkParams } from '../chunker/params.js';
import { ChunkEncoder, type Compression } from '../codec/chunk-codec.js';
import { DsyncError, fsError } from '../errors/dsync-error.js';
import type { Entry } from '../manifest/entry.js';
import { describeOne, scanTree, type ScanOptions } from '../manifest/scan.js';
import { cacheFileFor, StatCache } from '../manifest/stat-cache.js';
import { decodeJson, decodeWant, jsonPayload, encodeChunkHeader, encodeChunkMissing, encodeEntries, encodeManifestBegin, encodeManifestEnd, MSG, MSG_NAME } from '../protocol/messages.js';
import type { Peer } from '../protocol/peer.js';
import { FdCache } from '../util/fd-cache.js';
import type { Reporter, RunStats } from './events.js';

export interface SenderOptions {
  root: string;
  params: ChunkParams;
  compression: Compression;
  exclude?: (rel: string, isDir: boolean) => boolean;
  reporter: Reporter;
}

interface Location {
  file: string;
  offset: number;
  length: number;
}

const ENTRY_BATCH_BYTES = 256 * 1024;

/**
 * The sending side of a run: streams the source manifest while it scans, then answers the
 * receiver's wants by reading each chunk again, checking it still hashes the same (a file that
 * changed since it was scanned is reported, never sent torn), and sending it encoded.
 * Returns the receiver's stats from its DONE message.
 */
export async function runSender(peer: Peer, opts: SenderOptions): Promise<RunStats> {
  const root = path.resolve(opts.root);
  let st: import('node:fs').Stats;
  try {
    st = await fsp.stat(root);
  } catch (err) {
    throw fsError(err, `cannot read source ${root}`, 'SOURCE');
  }
  if (!st.isDirectory() && !st.isFile()) throw new DsyncError('SOURCE', `source ${root} is not a file or directory`);
  const real = await fsp.realpath(root);
  const singleFile = st.isFile();
  const cache = await StatCache.load(real, opts.params);
  const locations = new Map<string, Location>();
  const scanned: Entry[] = [];
  let hadErrors = false;
  let sourceRead = 0;
  let aborted = false;
  const scanOpts: ScanOptions = {
    cutter: new Cutter(opts.params),
    cache,
    exclude: opts.exclude,
    onRead: (n) => {
      sourceRead += n;
    },
    onWarning: (w) => {
      if (w.code !== 'VANISHED') hadErrors = true;
      opts.reporter.warning(w);
    },
  };

  await peer.send(MSG.MANIFEST_BEGIN, encodeManifestBegin({ params: opts.params, singleFile }));

  const sendManifest = async () => {
    opts.reporter.phase('scanning');
    const scan = singleFile ? describeOne(real, path.basename(root), scanOpts) : scanTree(real, scanOpts);
    let batch: Entry[] = [];
    let batchBytes = 0;
    for await (const e of scan) {
      if (aborted) return;
      if (e.type === 'file') {
        const abs = singleFile ? real : path.join(real, e.path);
        const c = e.chunks!;
        let offset = 0;
        for (let i = 0; i < c.count; i++) {
          const key = c.key(i);
          if (!locations.has(key)) locations.set(key, { file: abs, offset, length: c.lengths[i]! });
          offset += c.lengths[i]!;
        }
      }
      scanned.push(e);
      batch.push(e);
      batchBytes += 64 + (e.chunks?.count ?? 0) * 36;
      if (batchBytes >= ENTRY_BATCH_BYTES) {
        await peer.send(MSG.ENTRIES, encodeEntries(batch));
        batch = [];
        batchBytes = 0;
      }
    }
    if (batch.length) await peer.send(MSG.ENTRIES, encodeEntries(batch));
    await peer.send(MSG.MANIFEST_END, encodeManifestEnd(hadErrors));
    opts.reporter.phase('transferring');
  };

  const files = new FdCache(constants.O_RDONLY | constants.O_NOFOLLOW, 32);
  const encoder = new ChunkEncoder(opts.compression);
  const serve = async (): Promise<RunStats> => {
    for (;;) {
      const f = await peer.next();
      if (!f) throw new DsyncError('CONN_LOST', `connection to ${peer.label} closed before the transfer finished`);
      switch (f.type) {
        case MSG.WANT:
          for (const hash of decodeWant(f.payload)) {
            const loc = locations.get(hash.toString('latin1'));
            if (!loc) throw new DsyncError('PROTOCOL', `${peer.label} asked for a chunk that is not in the manifest`);
            await sendChunk(hash, loc);
          }
          break;
        case MSG.WANT_END:
          await peer.send(MSG.SEND_END, jsonPayload({ sourceRead }));
          break;
        case MSG.DONE:
          return decodeJson(f.payload, 'result').stats as RunStats;
        default:
          throw new DsyncError('PROTOCOL', `unexpected ${MSG_NAME[f.type] ?? `message type ${f.type}`} from ${peer.label}`);
      }
    }
  };

  const sendChunk = async (hash: Buffer, loc: Location) => {
    const buf = Buffer.allocUnsafe(loc.length);
    let problem: string | null = null;
    try {
      const { bytesRead } = await files.use(loc.file, (fh) => fh.read(buf, 0, loc.length, loc.offset));
      if (bytesRead !== loc.length || !sha256(buf).equals(hash)) problem = 'changed';
    } catch (err) {
      problem = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'vanished' : fsError(err, 'unreadable').message;
    }
    if (problem) {
      const rel = path.relative(real, loc.file) || path.basename(loc.file);
      const reason = `source file ${rel} ${problem} during the run`;
      opts.reporter.warning({ code: 'VANISHED', message: reason, path: rel });
      await peer.send(MSG.CHUNK_MISSING, encodeChunkMissing(hash, reason));
      return;
    }
    const { encoding, payload } = encoder.encode(buf);
    await peer.send(MSG.CHUNK, encodeChunkHeader({ hash, encoding, rawLength: buf.length }), payload);
    opts.reporter.progress({ bytes: buf.length, wire: payload.length });
  };

  try {
    const [, stats] = await Promise.all([sendManifest(), serve()]);
    await StatCache.save(cacheFileFor(real, opts.params), opts.params, scanned).catch(() => {});
    return stats;
  } catch (err) {
    aborted = true;
    throw err;
  } finally {
    await files.closeAll();
  }
}
