import { HASH_LEN } from '../chunker/chunk-list.js';
import { LIMITS, type ChunkParams } from '../chunker/params.js';
import { DsyncError } from '../errors/dsync-error.js';
import { isErrorCode, type ErrorCode } from '../errors/exit-codes.js';
import type { Entry } from '../manifest/entry.js';
import { decodeChunkList, decodeEntry, decodeParams, encodeChunkList, encodeEntry, encodeParams, unhashed } from '../manifest/codec.js';
import type { ChunkList } from '../chunker/chunk-list.js';
import { Reader, Writer } from '../util/binary.js';
import { BLOCK, SIG_ENTRY_LEN } from '../codec/delta.js';
import { zstdCompress, zstdDecompress } from '../codec/zstd.js';

/** Wire protocol version; bumped on any incompatible change. Both sides must speak the same one. */
export const PROTOCOL_VERSION = 5;
const MAGIC = Buffer.from('DSYNC');

export const MSG = {
  HELLO: 1, // client -> agent: who plays which role, on which path, with which options
  WELCOME: 2, // agent -> client: handshake accepted
  ERROR: 3, // either way: fatal error, then the sender of it closes
  EVENT: 4, // agent -> client: item/warning/progress for the client's report
  KEEPALIVE: 5, // either way: still here (sent when otherwise quiet, with --timeout)
  MANIFEST_BEGIN: 10, // sender -> receiver: chunk parameters and source kind
  ENTRIES: 11, // sender -> receiver: a batch of manifest entries
  MANIFEST_END: 12,
  NEED_LISTS: 13, // receiver -> sender: entries whose chunk lists it needs
  CHUNK_LISTS: 14, // sender -> receiver: those chunk lists
  WANT: 20, // receiver -> sender: chunk hashes it lacks
  WANT_END: 21, // receiver -> sender: nothing more will be wanted
  CHUNK: 22, // sender -> receiver: one chunk's data
  CHUNK_MISSING: 23, // sender -> receiver: a wanted chunk cannot be produced any more
  SEND_END: 24, // sender -> receiver: every wanted chunk was answered
  CHUNKS: 25, // sender -> receiver: adjacent chunks of one file, compressed as one
  DONE: 30, // receiver -> sender: the run's result
} as const;

export const MSG_NAME: Record<number, string> = Object.fromEntries(Object.entries(MSG).map(([k, v]) => [v, k]));

export const MAX_JSON = 1024 * 1024;

/** Chunk payload encodings. DELTA: base hash (32 bytes) + zstd(delta ops against that base). */
export const ENC = { RAW: 0, ZSTD: 1, DELTA: 2 } as const;

// ---- handshake -------------------------------------------------------------------------------

export function encodeHandshake(body: object): Buffer {
  return new Writer().raw(MAGIC).uvar(PROTOCOL_VERSION).str(JSON.stringify(body)).finish();
}

/** Returns the peer's protocol version and its JSON body; rejects anything that is not dsync. */
export function decodeHandshake(payload: Buffer, what: string): { version: number; body: Record<string, unknown> } {
  const r = new Reader(payload, what);
  if (payload.length < MAGIC.length || !r.raw(MAGIC.length).equals(MAGIC)) r.fail('not a dsync handshake');
  const version = r.uvar(1 << 16);
  return { version, body: parseJsonObject(r.str(MAX_JSON), r) };
}

export function parseJsonObject(s: string, r: Reader): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    return r.fail('invalid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) r.fail('expected a JSON object');
  return v as Record<string, unknown>;
}

export function jsonPayload(v: unknown): Buffer {
  return new Writer().str(JSON.stringify(v)).finish();
}

export function decodeJson(payload: Buffer, what: string): Record<string, unknown> {
  const r = new Reader(payload, what);
  const obj = parseJsonObject(r.str(MAX_JSON), r);
  r.end();
  return obj;
}

// ---- errors ----------------------------------------------------------------------------------

export function encodeError(code: ErrorCode, message: string): Buffer {
  return new Writer().str(code).str(message.slice(0, 4096)).finish();
}

export function decodeError(payload: Buffer): DsyncError {
  const r = new Reader(payload, 'error message');
  const code = r.str(64);
  const message = r.str(8192);
  return new DsyncError(isErrorCode(code) ? code : 'PROTOCOL', message);
}

// ---- manifest --------------------------------------------------------------------------------

export interface ManifestBegin {
  params: ChunkParams;
  singleFile: boolean; // the source is one file, not a directory
  filters: string[]; // the source's own filter rules (.dsyncignore), which the receiver honours too
}

export function encodeManifestBegin(m: ManifestBegin): Buffer {
  const w = new Writer();
  encodeParams(w, m.params);
  w.u8(m.singleFile ? 1 : 0).uvar(m.filters.length);
  for (const f of m.filters) w.str(f);
  return w.finish();
}

export function decodeManifestBegin(payload: Buffer): ManifestBegin {
  const r = new Reader(payload, 'manifest header');
  const params = decodeParams(r);
  const flags = r.u8();
  if (flags > 1) r.fail(`unknown flags ${flags}`);
  const n = r.uvar(10_000);
  const filters: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = r.str(4096);
    if (!/^[+-] ./.test(f)) r.fail(`bad filter rule ${JSON.stringify(f)}`);
    filters.push(f);
  }
  r.end();
  return { params, singleFile: flags === 1, filters };
}

/** MANIFEST_END flags: the source had read errors, so the receiver must not delete anything. */
export function encodeManifestEnd(sourceHadErrors: boolean): Buffer {
  return Buffer.from([sourceHadErrors ? 1 : 0]);
}

export function decodeManifestEnd(payload: Buffer): { sourceHadErrors: boolean } {
  const r = new Reader(payload, 'manifest end');
  const flags = r.u8();
  if (flags > 1) r.fail(`unknown flags ${flags}`);
  r.end();
  return { sourceHadErrors: flags === 1 };
}

/** ENTRIES := packed(count:uvar entry{count}); paths make manifests compress well. */
export function encodeEntries(entries: Entry[], compress = false): Buffer {
  const w = new Writer(1 << 16);
  w.uvar(entries.length);
  for (const e of entries) encodeEntry(w, e, 'wire');
  return pack(w.finish(), compress);
}

export function decodeEntries(payload: Buffer, params: ChunkParams): Entry[] {
  const r = new Reader(unpack(payload, 'manifest entries'), 'manifest entries');
  const n = r.uvar(r.remaining);
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) out.push(decodeEntry(r, params, 'wire'));
  r.end();
  return out;
}

export function encodeNeedLists(indices: number[]): Buffer {
  const w = new Writer(indices.length * 3 + 4).uvar(indices.length);
  for (const i of indices) w.uvar(i);
  return w.finish();
}

export function decodeNeedLists(payload: Buffer): number[] {
  const r = new Reader(payload, 'chunk list request');
  const n = r.uvar(r.remaining);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(r.uvar());
  r.end();
  return out;
}

/**
 * chunk lists := count:uvar (index:uvar kind:u8 [chunklist])*: kind 0 carries the list; kind 1 says
 * that an unhashed file (codec.ts) was found changed or gone when the sender came to read it, so
 * it has no list that matches its announcement (null here).
 */
export type ListItem = { index: number; chunks: ChunkList | null };

export function encodeChunkLists(lists: ListItem[]): Buffer {
  const w = new Writer(1 << 16).uvar(lists.length);
  for (const l of lists) {
    w.uvar(l.index).u8(l.chunks ? 0 : 1);
    if (l.chunks) encodeChunkList(w, l.chunks);
  }
  return w.finish();
}

/** `entryFor` returns the file entry an index may name (or null), to bound each list by its size. */
export function decodeChunkLists(payload: Buffer, params: ChunkParams, entryFor: (index: number) => Entry | null): ListItem[] {
  const r = new Reader(payload, 'chunk lists');
  const n = r.uvar(r.remaining);
  const out: ListItem[] = [];
  for (let i = 0; i < n; i++) {
    const index = r.uvar();
    const e = entryFor(index) ?? r.fail(`chunk list for entry ${index}, which was not asked for`);
    const kind = r.u8();
    if (kind > 1 || (kind === 1 && !unhashed(e))) r.fail(`bad chunk list kind ${kind} for entry ${index}`);
    out.push({ index, chunks: kind === 0 ? decodeChunkList(r, e.size, params) : null });
  }
  r.end();
  return out;
}

const MAX_UNPACKED = 16 * 1024 * 1024;

/** packed := 0 raw | 1 rawLength:uvar zstd(raw); unpacking is bounded, so no zip bombs. */
function pack(raw: Buffer, compress: boolean): Buffer {
  if (compress && raw.length > 256) {
    const z = zstdCompress(raw);
    if (z.length < raw.length) return Buffer.concat([new Writer(8).u8(1).uvar(raw.length).finish(), z]);
  }
  return Buffer.concat([Buffer.from([0]), raw]);
}

function unpack(payload: Buffer, what: string): Buffer {
  const r = new Reader(payload, what);
  const kind = r.u8();
  if (kind === 0) return r.raw(r.remaining);
  if (kind !== 1) r.fail(`unknown packing ${kind}`);
  const len = r.uvar(MAX_UNPACKED);
  try {
    const out = zstdDecompress(r.raw(r.remaining), len);
    if (out.length !== len) throw new Error('length');
    return out;
  } catch {
    return r.fail('corrupt compressed data');
  }
}

// ---- chunks ----------------------------------------------------------------------------------

/** A chunk the receiver lacks, and optionally the old chunk it has in its place (see delta.ts). */
export interface WantItem {
  hash: Buffer;
  base?: { hash: Buffer; sig: Buffer };
}

export function encodeWant(items: WantItem[]): Buffer {
  const w = new Writer(items.length * (HASH_LEN + 1));
  for (const it of items) {
    w.raw(it.hash).u8(it.base ? 1 : 0);
    if (it.base) w.raw(it.base.hash).bytes(it.base.sig);
  }
  return w.finish();
}

/** want := (hash:32 flag:u8 [base:32 sig:bytes])+ ; a signature is bounded by the maximum chunk. */
export function decodeWant(payload: Buffer, maxChunk: number): WantItem[] {
  const r = new Reader(payload, 'want list');
  const maxSig = Math.floor(maxChunk / BLOCK) * SIG_ENTRY_LEN;
  const out: WantItem[] = [];
  if (payload.length === 0) r.fail('empty');
  while (r.remaining) {
    const hash = r.raw(HASH_LEN);
    const flag = r.u8();
    if (flag > 1) r.fail(`unknown flag ${flag}`);
    if (flag === 0) {
      out.push({ hash });
      continue;
    }
    const base = r.raw(HASH_LEN);
    const sig = r.bytes(maxSig);
    if (sig.length % SIG_ENTRY_LEN !== 0) r.fail('signature is not a whole number of blocks');
    out.push({ hash, base: { hash: base, sig } });
  }
  return out;
}

export interface ChunkHeader {
  hash: Buffer;
  encoding: number;
  rawLength: number;
}

export function encodeChunkHeader(h: ChunkHeader): Buffer {
  return new Writer(48).raw(h.hash).u8(h.encoding).uvar(h.rawLength).finish();
}

/** Split a CHUNK payload into header and data; lengths are bounded by the run's maximum chunk. */
export function decodeChunk(payload: Buffer, maxChunk: number): ChunkHeader & { data: Buffer } {
  const r = new Reader(payload, 'chunk');
  const hash = Buffer.from(r.raw(HASH_LEN));
  const encoding = r.u8();
  if (encoding !== ENC.RAW && encoding !== ENC.ZSTD && encoding !== ENC.DELTA) r.fail(`unknown chunk encoding ${encoding}`);
  const rawLength = r.uvar(maxChunk);
  const data = r.raw(r.remaining);
  if (encoding === ENC.RAW && data.length !== rawLength) r.fail('raw chunk length mismatch');
  if (encoding === ENC.DELTA && data.length < HASH_LEN) r.fail('delta without its base');
  return { hash, encoding, rawLength, data };
}

/**
 * Most bytes a CHUNKS frame rebuilds. Compressed as one, adjacent text chunks share context that
 * each compressed alone lacks: the benchmark's next-day text, 64 KiB chunks at level 3, takes
 * 1.67 MB alone and 1.53 MB as one (5.2 MB raw); a MiB gets most of that.
 */
export const GROUP_MAX = 1024 * 1024;

export interface GroupItem {
  hash: Buffer;
  rawLength: number;
}

/** chunks := count:uvar (hash:32 rawLength:uvar){count} zstd(their data, in that order) */
export function encodeChunksHeader(items: GroupItem[]): Buffer {
  const w = new Writer(8 + items.length * 40).uvar(items.length);
  for (const it of items) w.raw(it.hash).uvar(it.rawLength);
  return w.finish();
}

/**
 * Split a CHUNKS payload into its chunks and their compressed data: at least two chunks, each
 * within the maximum chunk, together within GROUP_MAX.
 */
export function decodeChunks(payload: Buffer, maxChunk: number): { items: GroupItem[]; total: number; data: Buffer } {
  const r = new Reader(payload, 'chunk group');
  const count = r.uvar(GROUP_MAX / LIMITS.minMin);
  if (count < 2) r.fail(`${count} chunks in a group`);
  const items: GroupItem[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const hash = Buffer.from(r.raw(HASH_LEN));
    const rawLength = r.uvar(maxChunk);
    if (rawLength === 0) r.fail('empty chunk');
    total += rawLength;
    if (total > GROUP_MAX) r.fail(`group exceeds ${GROUP_MAX} bytes`);
    items.push({ hash, rawLength });
  }
  const data = r.raw(r.remaining);
  if (data.length === 0) r.fail('no data');
  return { items, total, data };
}

export function encodeChunkMissing(hash: Buffer, reason: string): Buffer {
  return new Writer().raw(hash).str(reason.slice(0, 4096)).finish();
}

export function decodeChunkMissing(payload: Buffer): { hash: Buffer; reason: string } {
  const r = new Reader(payload, 'chunk-missing');
  const hash = Buffer.from(r.raw(HASH_LEN));
  const reason = r.str(8192);
  r.end();
  return { hash, reason };
}
