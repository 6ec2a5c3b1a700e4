import type { ErrorCode } from '../errors/exit-codes.js';
import type { EntryType } from '../manifest/entry.js';

/** A problem with one path that does not stop the run; its code decides the run's exit code. */
export interface Warning {
  code: ErrorCode;
  message: string;
  path?: string;
  /** Dealt with within the run (e.g. a damaged chunk sent again): reported, not an error. */
  recovered?: boolean;
}

export type ItemAction = 'new' | 'changed' | 'meta' | 'deleted';

/** One destination path that a run changes (or, in a dry run, would change). */
export interface ItemEvent {
  path: string;
  type: EntryType;
  action: ItemAction;
  size: number;
}

/** What the receiver did, reported back to whoever started the run. */
export interface RunStats {
  entries: number; // source entries (files, dirs, symlinks)
  files: number; // source files
  bytes: number; // source file bytes
  created: number;
  changed: number;
  metaOnly: number;
  deleted: number;
  chunksTotal: number; // chunks of changed files
  chunksLocal: number; // of those, copied from data the destination already had
  chunksSent: number; // sent over the wire (each distinct chunk once)
  bytesLocal: number;
  bytesSent: number; // raw chunk bytes that had to be transferred
  wireBytes: number; // encoded chunk payload bytes received
  warnings: number;
  chunksResumed: number; // chunks an interrupted run had received, found again in its staging
  sourceRead: number; // file bytes the sender had to read to chunk them (stat cache misses)
  destRead: number; // the same on the receiver's side
  streams: number[]; // bytes each parallel data stream carried (empty: all on the control stream)
}

export function emptyStats(): RunStats {
  return {
    entries: 0, files: 0, bytes: 0, created: 0, changed: 0, metaOnly: 0, deleted: 0, chunksTotal: 0,
    chunksLocal: 0, chunksSent: 0, bytesLocal: 0, bytesSent: 0, wireBytes: 0, warnings: 0,
    chunksResumed: 0, sourceRead: 0, destRead: 0, streams: [],
  };
}

/** The sink every part of a run reports to; the CLI turns it into text, progress bars or JSON. */
export interface Reporter {
  item(e: ItemEvent): void;
  warning(w: Warning): void;
  /** Raw chunk bytes that reached the receiver (or, locally, were produced). */
  progress(delta: { bytes: number; wire: number }): void;
  /** Chunk bytes newly planned for transfer (the growing total that progress runs toward). */
  planned(bytes: number): void;
  phase(name: string): void;
  /** Bytes each parallel data stream has carried so far, every half second while they run. */
  streams(bytes: number[]): void;
}

export const nullReporter: Reporter = { item() {}, warning() {}, progress() {}, planned() {}, phase() {}, streams() {} };

/** Exit-code severity of warnings: partial-transfer errors outrank vanished files. */
export function worstWarning(codes: Iterable<ErrorCode>): ErrorCode | null {
  let worst: ErrorCode | null = null;
  for (const c of codes) {
    if (c === 'VANISHED' && worst === null) worst = c;
    else if (c !== 'VANISHED') worst = worst === null || worst === 'VANISHED' ? 'PARTIAL' : worst;
  }
  return worst;
}
