import { constants, fstatSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Cutter } from '../chunker/cdc.js';
import { HashPool } from '../chunker/hash-pool.js';
import { ChunkEncoder } from '../codec/chunk-codec.js';
import { DsyncError, fsError } from '../errors/dsync-error.js';
import { entryIdentity, statIdentity, type Entry } from '../manifest/entry.js';
import { describeOne, readAnnounced, scanTree, type ScanOptions } from '../manifest/scan.js';
import { StatCache } from '../manifest/stat-cache.js';
import { decodeJson, decodeNeedLists, decodeWant, encodeChunkLists, jsonPayload, encodeChunkHeader, encodeChunkMissing, encodeChunksHeader, encodeEntries, encodeManifestBegin, encodeManifestEnd, ENC, GROUP_MAX, MSG, MSG_NAME } from '../protocol/messages.js';
import type { Peer } from '../protocol/peer.js';
import type { RunOptions } from '../protocol/hello.js';
import type { ListItem, WantItem } from '../protocol/messages.js';
import { unhashed } from '../manifest/codec.js';
import { FdCache, preadFull } from '../util/fd-cache.js';
import { ReadAhead } from '../util/read-ahead.js';
import { ChunkIndex, type ChunkLocation } from '../receiver/chunk-index.js';
import { SlabClasses, SlabPool } from '../util/slab-pool.js';
import type { Reporter, RunStats } from './events.js';
import { compileFilters, ignoreRules } from './filter.js';

/** The run's options that concern the sender (documented in protocol/hello.ts), and what it reads. */
export interface SenderOptions extends Pick<RunOptions, 'params' | 'compression' | 'filters' | 'verify' | 'checksum'> {
  root: string;
  reporter: Reporter;
}

const ENTRY_BATCH_BYTES = 64 * 1024; // encoded manifest bytes per ENTRIES frame
const ENTRY_BATCH_DATA = 16 * 1024 * 1024; // file bytes described per ENTRIES frame

/** Entries scanned ahead of the receiver: plenty to cover the time a connection takes to set up. */
const SCAN_AHEAD = 1 << 16;

/** A source tree being scanned: started before the connection is up, so the two overlap. */
export interface SourceScan {
  root: string;
  real: string;
  singleFile: boolean;
  ownRules: string[]; // the source's own ignore rules, which the receiver applies too
  entries: ReadAhead<Entry>;
  cache: StatCache; // what the scan started from, written back once it is complete
  counts: { hadErrors: boolean; sourceRead: number };
  /** Read a file the scan announced unread, now that its chunk list is wanted (see readAnnounced). */
  readAnnounced(abs: string, e: Entry): Promise<Entry | null>;
  close(): Promise<void>;
}

/** Start scanning the source; throws at once if it cannot be read at all. */
export async function scanSource(opts: SenderOptions): Promise<SourceScan> {
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
  const cache = opts.verify ? StatCache.empty() : await StatCache.load(real, opts.params);
  const ownRules = singleFile ? [] : ignoreRules(real);
  const pool = HashPool.create(opts.params);
  const counts = { hadErrors: false, sourceRead: 0 };
  const scanOpts: ScanOptions = {
    cutter: new Cutter(opts.params),
    cache,
    pool,
    exclude: compileFilters([...opts.filters, ...ownRules]),
    quickCheck: !opts.verify && !opts.checksum,
    onRead: (n) => {
      counts.sourceRead += n;
    },
    onWarning: (w) => {
      if (w.code !== 'VANISHED') counts.hadErrors = true;
      opts.reporter.warning(w);
    },
  };
  opts.reporter.phase('scanning');
  const entries = new ReadAhead(singleFile ? describeOne(real, path.basename(root), scanOpts) : scanTree(real, scanOpts), SCAN_AHEAD);
  return {
    root,
    real,
    singleFile,
    ownRules,
    entries,
    cache,
    counts,
    readAnnounced: (abs, e) => readAnnounced(abs, e, scanOpts),
    close: async () => {
      entries.stop();
      await pool?.close();
    },
  };
}

/**
 * The sending side of a run: streams the source manifest while it scans, then answers the
 * receiver's wants by reading each chunk again from a file still as it was scanned (a file that
 * changed since is reported, never sent torn), and sending it encoded.
 * Returns the receiver's stats from its DONE message.
 */
export async function runSender(peer: Peer, opts: SenderOptions, source?: SourceScan): Promise<RunStats> {
  const src = source ?? (await scanSource(opts));
  const { real, singleFile, counts } = src;
  const locations = new ChunkIndex();
  const scannedAs = new Map<string, Entry>(); // file -> its entry (stat identity) when it was chunked
  const scanned: Entry[] = [];
  let aborted = false;

  const abs = (e: Entry) => (singleFile ? real : path.join(real, e.path));

  await peer.send(MSG.MANIFEST_BEGIN, encodeManifestBegin({ params: opts.params, singleFile, filters: src.ownRules }));

  const sendManifest = async () => {
    let batch: Entry[] = [];
    let batchBytes = 0;
    let batchData = 0;
    for await (const e of src.entries) {
      if (aborted) return;
      if (e.type === 'file') scannedAs.set(abs(e), e);
      scanned.push(e);
      batch.push(e);
      batchBytes += 48 + e.path.length;
      batchData += e.size;
      // Small batches early and often: the receiver can only ask for chunks of entries it has.
      if (batchBytes >= ENTRY_BATCH_BYTES || batchData >= ENTRY_BATCH_DATA) {
        await peer.send(MSG.ENTRIES, encodeEntries(batch, opts.compression.kind !== 'none'));
        batch = [];
        batchBytes = 0;
        batchData = 0;
      }
    }
    if (batch.length) await peer.send(MSG.ENTRIES, encodeEntries(batch, opts.compression.kind !== 'none'));
    await peer.send(MSG.MANIFEST_END, encodeManifestEnd(counts.hadErrors));
    opts.reporter.phase('transferring');
    // The scan is complete: its cache is written while chunks are served, not after.
    if (!opts.verify) await (saved = src.cache.save(real, opts.params, scanned).catch(() => {}));
  };
  let saved: Promise<void> = Promise.resolve();
  let readLate = false; // a file announced unread was read for its chunk list (see sendLists)

  const files = new FdCache(constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK, 32);
  const warned = new Set<string>(); // files reported as changed or vanished during the run
  const encoder = new ChunkEncoder(opts.compression);
  const slabs = new SlabPool(MAX_RUN, 4);
  const smallSlabs = new SlabClasses(64 * 1024, POOLED_RUN, 8 * POOLED_RUN);
  const serve = async (): Promise<RunStats> => {
    for (;;) {
      const f = await peer.next();
      if (!f) throw new DsyncError('CONN_LOST', `connection to ${peer.label} closed before the transfer finished`);
      switch (f.type) {
        case MSG.WANT: {
          const wanted = decodeWant(f.payload, opts.params.max).map(({ hash, base }) => {
            const loc = locations.get(hash.toString('latin1'));
            if (!loc) throw new DsyncError('PROTOCOL', `${peer.label} asked for a chunk of no file whose chunk list it received`);
            return { hash, base, loc };
          });
          opts.reporter.planned(wanted.reduce((n, w) => n + w.loc.length, 0));
          for (const run of contiguousRuns(wanted)) await sendRun(run);
          break;
        }
        case MSG.NEED_LISTS: {
          const indices = decodeNeedLists(f.payload);
          for (const index of indices) {
            const e = scanned[index];
            if (!e || e.type !== 'file') throw new DsyncError('PROTOCOL', `${peer.label} asked for the chunk list of entry ${index}, which is not a file`);
          }
          const answer = sendLists(indices);
          // Files announced unread are read first: wants of other files are served meanwhile.
          if (indices.some((i) => unhashed(scanned[i]!))) answer.catch((err: unknown) => peer.abort(err));
          else await answer;
          break;
        }
        case MSG.WANT_END:
          // On every data stream too: the receiver knows each stream has delivered all it carried.
          await peer.sendOnAll(MSG.SEND_END, jsonPayload({ sourceRead: counts.sourceRead, streams: peer.dataStreams }));
          // Every list is out: the cache learns the files read for one, while the receiver
          // finishes (a push of this tree to another destination then reads none of them again).
          if (readLate) saved = saved.then(() => src.cache.save(real, opts.params, scanned)).catch(() => {});
          break;
        case MSG.DONE:
          await saved;
          return decodeJson(f.payload, 'result').stats as RunStats;
        default:
          throw new DsyncError('PROTOCOL', `unexpected ${MSG_NAME[f.type] ?? `message type ${f.type}`} from ${peer.label}`);
      }
    }
  };

  /** Answer a request for chunk lists, reading the files announced unread (in the pool, at once). */
  const sendLists = async (indices: number[]) => {
    const read = await Promise.all(indices.map((i) => (unhashed(scanned[i]!) ? src.readAnnounced(abs(scanned[i]!), scanned[i]!) : null)));
    const lists: ListItem[] = [];
    let bytes = 0;
    for (let k = 0; k < indices.length; k++) {
      const index = indices[k]!;
      let e = scanned[index]!;
      if (unhashed(e)) {
        const now = read[k];
        if (!now) {
          lists.push({ index, chunks: null }); // warned about: the receiver keeps its version
          continue;
        }
        scanned[index] = e = now;
        scannedAs.set(abs(e), e);
        readLate = true;
      }
      lists.push({ index, chunks: e.chunks! });
      // The receiver can only want chunks of files whose chunk lists it asked for: only
      // those are indexed, not every file of the manifest (6000, 4000 of them unchanged).
      locations.addFile(abs(e), e);
      bytes += e.chunks!.count * 36;
      if (bytes >= ENTRY_BATCH_BYTES) {
        await peer.send(MSG.CHUNK_LISTS, encodeChunkLists(lists.splice(0)));
        bytes = 0;
      }
    }
    if (lists.length) await peer.send(MSG.CHUNK_LISTS, encodeChunkLists(lists));
  };

  /** Read a run of adjacent chunks with one read, then check and send each. */
  const sendRun = async (run: Wanted[]) => {
    const first = run[0]!.loc;
    const total = run.reduce((n, w) => n + w.loc.length, 0);
    // Queued frames refer to the run's buffer until their stream has taken them: its slab goes
    // back to its pool after the last of them (at once when every chunk was sent encoded).
    const slab = total >= POOLED_RUN ? (total <= slabs.size ? slabs.take() : null) : smallSlabs.take(total);
    const readBuf = slab?.buf ?? Buffer.allocUnsafe(total);
    let got = 0;
    let problem: string | null = null;
    try {
      const fd = files.get(first.file);
      // Same size, mtime, ctime and inode as when it was chunked, before and after the read: the
      // bytes are the ones the manifest describes. The receiver takes them on that (see its take()).
      const scannedId = entryIdentity(scannedAs.get(first.file)!);
      const asScanned = () => statIdentity(fstatSync(fd, { bigint: true })) === scannedId;
      if (asScanned()) got = preadFull(fd, readBuf, total, first.offset);
      if (!asScanned()) problem = 'changed';
    } catch (err) {
      files.close(first.file);
      problem = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'vanished' : fsError(err, 'unreadable').message;
    }
    // A chunk goes out on its own, or several adjacent ones compressed as one (see GROUP_MAX).
    const sendChunk = async (hash: Buffer, data: Buffer, encoding: number, payload: Buffer) => {
      const shared = slab && payload === data; // sent raw: a slice of the slab
      if (shared) slab.hold();
      await peer.sendData(MSG.CHUNK, encodeChunkHeader({ hash, encoding, rawLength: data.length }), payload, shared ? slab.release : undefined);
      encoder.sent(data.length, payload.length);
      opts.reporter.progress({ bytes: data.length, wire: payload.length });
    };
    let group: Wanted[] = [];
    let groupAt = 0;
    let groupBytes = 0;
    const sendGroup = async () => {
      const items = group;
      const data = readBuf.subarray(groupAt, groupAt + groupBytes);
      group = [];
      groupBytes = 0;
      if (items.length === 0) return;
      const packed = items.length > 1 ? encoder.encodeGroup(data) : null;
      if (packed) {
        await peer.sendData(MSG.CHUNKS, encodeChunksHeader(items.map((w) => ({ hash: w.hash, rawLength: w.loc.length }))), packed);
        encoder.sent(data.length, packed.length);
        opts.reporter.progress({ bytes: data.length, wire: packed.length });
        return;
      }
      let at = 0;
      for (const w of items) {
        const one = data.subarray(at, (at += w.loc.length));
        if (items.length === 1) {
          const { encoding, payload } = encoder.encode(one);
          await sendChunk(w.hash, one, encoding, payload);
        } else await sendChunk(w.hash, one, ENC.RAW, one); // compressed together, they did not shrink
      }
    };
    let at = 0;
    for (const w of run) {
      const { hash, base, loc } = w;
      const data = readBuf.subarray(at, at + loc.length);
      at += loc.length;
      const bad = problem ?? (at > got ? 'changed' : null);
      if (!bad && !base && encoder.grouping && loc.length <= GROUP_MAX) {
        if (groupBytes + loc.length > GROUP_MAX) await sendGroup();
        if (group.length === 0) groupAt = at - loc.length;
        group.push(w);
        groupBytes += loc.length;
        continue;
      }
      await sendGroup();
      if (bad) {
        const rel = path.relative(real, loc.file) || path.basename(loc.file);
        const reason = `source file ${rel} ${bad} during the run`;
        if (!warned.has(loc.file)) opts.reporter.warning({ code: 'VANISHED', message: reason, path: rel });
        warned.add(loc.file); // once a file, however many of its chunks were wanted
        await peer.sendData(MSG.CHUNK_MISSING, encodeChunkMissing(hash, reason));
        continue;
      }
      const { encoding, payload } = encoder.encode(data, base);
      await sendChunk(hash, data, encoding, payload);
    }
    await sendGroup();
    slab?.release();
  };

  try {
    const [, stats] = await Promise.all([sendManifest(), serve()]);
    return stats;
  } catch (err) {
    aborted = true;
    throw err;
  } finally {
    files.closeAll();
    await src.close();
  }
}

interface Wanted extends WantItem {
  loc: ChunkLocation;
}

const MAX_RUN = 8 * 1024 * 1024;
/**
 * Runs from this size on are read into 8 MiB slabs, smaller ones into slabs of the next power of
 * two from 64 KiB (see util/slab-pool.ts): a next-day update reads a few hundred single changed
 * chunks, and fresh buffers for them were 19 MB of new memory to fault in. Up to 8 MiB of each
 * size is kept: the small files of a first copy wait in the streams' queues by the hundred, and
 * with 1 MiB kept 1995 slabs of 64 KiB were allocated for them instead of ~140.
 */
const POOLED_RUN = 1024 * 1024;

/** Split wanted chunks into runs that sit back to back in one file (one read each). */
function contiguousRuns(wanted: Wanted[]): Wanted[][] {
  const runs: Wanted[][] = [];
  let run: Wanted[] = [];
  let end = -1;
  let size = 0;
  for (const w of wanted) {
    const prev = run[run.length - 1];
    if (prev && (w.loc.file !== prev.loc.file || w.loc.offset !== end || size + w.loc.length > MAX_RUN)) {
      runs.push(run);
      run = [];
      size = 0;
    }
    run.push(w);
    end = w.loc.offset + w.loc.length;
    size += w.loc.length;
  }
  if (run.length) runs.push(run);
  return runs;
}
