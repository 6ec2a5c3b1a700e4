import { validateParams, type ChunkParams } from '../chunker/params.js';
import type { Compression } from '../codec/chunk-codec.js';
import { DsyncError } from '../errors/dsync-error.js';

/** Options the client hands the agent; everything is re-validated on arrival. */
export interface RunOptions {
  deleteExtra: boolean;
  dryRun: boolean;
  verify: boolean; // re-read everything: no stat cache on either side
  checksum: boolean; // no quick check of files the sender meets for the first time (manifest/scan.ts)
  destIsDir: boolean;
  params: ChunkParams;
  compression: Compression;
  filters: string[]; // filter rules, in order (see filter.ts)
  reportItems: boolean; // the client shows each change (-v, --json, --dry-run): send item events
  waitLock: number; // seconds to wait for another run on the destination to finish
  timeout: number; // seconds of silence after which a side gives up on the other (0: never)
  streams: number; // parallel data streams (1: data shares the control stream)
  transport: 'ssh' | 'tcp'; // what data streams run over (see engine/data-plane.ts)
  bwlimit: number; // bytes per second over all streams (0: unlimited)
  atomic: boolean; // publish as a new version behind the DST symlink (receiver/versions.ts)
  keep: number; // --atomic: previous versions to keep
  stagingMaxAge: number; // seconds an interrupted run's staged data is kept for a resume
  stagingMaxSize: number; // bytes of it kept at most
}

export const MAX_STREAMS = 16;

export interface Hello {
  dsyncVersion: string;
  role: 'sender' | 'receiver'; // the role the agent plays
  path: string;
  options: RunOptions;
}

function bad(what: string): never {
  throw new DsyncError('PROTOCOL', `malformed handshake: ${what}`);
}

function bool(o: Record<string, unknown>, k: string): boolean {
  if (typeof o[k] !== 'boolean') bad(`${k} must be true or false`);
  return o[k] as boolean;
}

export function parseHello(body: Record<string, unknown>): Hello {
  const { dsyncVersion, role, path, options } = body;
  if (typeof dsyncVersion !== 'string' || dsyncVersion.length > 64) bad('dsyncVersion');
  if (role !== 'sender' && role !== 'receiver') bad('role');
  if (typeof path !== 'string' || path.length === 0 || path.length > 4096 || path.includes('\0')) bad('path');
  if (typeof options !== 'object' || options === null) bad('options');
  const o = options as Record<string, unknown>;
  const p = o.params as Record<string, unknown> | undefined;
  let params: ChunkParams;
  try {
    params = validateParams({ min: Number(p?.min), avg: Number(p?.avg), max: Number(p?.max) });
  } catch (err) {
    return bad((err as Error).message);
  }
  const c = o.compression as Record<string, unknown> | undefined;
  let compression: Compression;
  if (c?.kind === 'none' || c?.kind === 'auto') compression = { kind: c.kind };
  else if (c?.kind === 'level' && Number.isInteger(c.level) && (c.level as number) >= 1 && (c.level as number) <= 19) compression = { kind: 'level', level: c.level as number };
  else return bad('compression');
  const waitLock = o.waitLock;
  if (typeof waitLock !== 'number' || !Number.isFinite(waitLock) || waitLock < 0 || waitLock > 7 * 86400) bad('waitLock');
  const timeout = o.timeout;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0 || timeout > 86400) bad('timeout');
  const streams = o.streams;
  if (typeof streams !== 'number' || !Number.isInteger(streams) || streams < 1 || streams > MAX_STREAMS) bad('streams');
  const transport = o.transport;
  if (transport !== 'ssh' && transport !== 'tcp') bad('transport');
  const bwlimit = o.bwlimit;
  if (typeof bwlimit !== 'number' || !Number.isFinite(bwlimit) || bwlimit < 0) bad('bwlimit');
  const keep = o.keep;
  if (typeof keep !== 'number' || !Number.isInteger(keep) || keep < 0 || keep > 1000) bad('keep');
  const stagingMaxAge = o.stagingMaxAge;
  if (typeof stagingMaxAge !== 'number' || !Number.isFinite(stagingMaxAge) || stagingMaxAge < 0) bad('stagingMaxAge');
  const stagingMaxSize = o.stagingMaxSize;
  if (typeof stagingMaxSize !== 'number' || !Number.isFinite(stagingMaxSize) || stagingMaxSize < 0) bad('stagingMaxSize');
  const filters = o.filters;
  if (!Array.isArray(filters) || filters.length > 10000 || !filters.every((f) => typeof f === 'string' && f.length <= 4096)) bad('filters');
  return {
    dsyncVersion,
    role,
    path,
    options: { deleteExtra: bool(o, 'deleteExtra'), dryRun: bool(o, 'dryRun'), verify: bool(o, 'verify'), checksum: bool(o, 'checksum'), destIsDir: bool(o, 'destIsDir'), reportItems: bool(o, 'reportItems'), waitLock, timeout, streams, transport, bwlimit, atomic: bool(o, 'atomic'), keep, stagingMaxAge, stagingMaxSize, params, compression, filters: filters as string[] },
  };
}
