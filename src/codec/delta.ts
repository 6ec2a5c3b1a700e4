import { sha256 } from '../chunker/chunk-file.js';
import { Reader, Writer } from '../util/binary.js';

/**
 * Deltas inside a changed chunk, rsync style. The receiver still has the old chunk at that place
 * (the base) but the sender does not, so the receiver sends a signature of the base: per block of
 * BLOCK bytes a rolling weak checksum and 8 bytes of SHA-256. The sender finds those blocks in the
 * new chunk and sends only what is not in them. A 16-byte edit in a 64 KiB chunk then costs the
 * signature (384 bytes) plus about one block of literals instead of the whole chunk.
 * A wrong match (colliding checksums) cannot corrupt anything: the rebuilt chunk is checked against
 * its SHA-256 like any other, and fetched whole if it fails.
 */
export const BLOCK = 2048;
const STRONG = 8;
const SIG_ENTRY = 4 + STRONG;
export const SIG_ENTRY_LEN = SIG_ENTRY;

function strong(data: Uint8Array): Buffer {
  return sha256(data).subarray(0, STRONG);
}

/** Adler-style checksum of data[p, p+BLOCK): returns [a, b]. */
function weakOf(data: Uint8Array, p: number): [number, number] {
  let a = 0;
  let b = 0;
  for (let i = 0; i < BLOCK; i++) {
    a += data[p + i]!;
    b += (BLOCK - i) * data[p + i]!;
  }
  return [a & 0xffff, b & 0xffff];
}

/** The signature of a base chunk: one entry per whole block. */
export function signature(base: Uint8Array): Buffer {
  const n = Math.floor(base.length / BLOCK);
  const out = Buffer.allocUnsafe(n * SIG_ENTRY);
  for (let i = 0; i < n; i++) {
    const [a, b] = weakOf(base, i * BLOCK);
    out.writeUInt32BE(((b << 16) | a) >>> 0, i * SIG_ENTRY);
    strong(base.subarray(i * BLOCK, (i + 1) * BLOCK)).copy(out, i * SIG_ENTRY + 4);
  }
  return out;
}

export function signatureBlocks(sig: Buffer): number {
  return sig.length / SIG_ENTRY;
}

const OP_LITERAL = 0;
const OP_COPY = 1;

/** Ops that rebuild `data` from the base described by `sig`: literals and runs of base blocks. */
export function makeDelta(data: Uint8Array, sig: Buffer): Buffer {
  const blocks = signatureBlocks(sig);
  const byWeak = new Map<number, number[]>();
  for (let i = 0; i < blocks; i++) {
    const w = sig.readUInt32BE(i * SIG_ENTRY);
    const list = byWeak.get(w);
    if (list) list.push(i);
    else byWeak.set(w, [i]);
  }
  const w = new Writer(1024);
  let lit = 0; // start of pending literal bytes
  let runBlock = -1;
  let runCount = 0;
  const flushRun = () => {
    if (runCount) w.u8(OP_COPY).uvar(runBlock).uvar(runCount);
    runCount = 0;
  };
  const flushLiteral = (end: number) => {
    if (end > lit) {
      flushRun();
      w.u8(OP_LITERAL).bytes(data.subarray(lit, end));
    }
  };
  let p = 0;
  let a = 0;
  let b = 0;
  let fresh = true;
  while (blocks && p + BLOCK <= data.length) {
    if (fresh) {
      [a, b] = weakOf(data, p);
      fresh = false;
    }
    const candidates = byWeak.get(((b << 16) | a) >>> 0);
    let hit = -1;
    if (candidates) {
      const s = strong(data.subarray(p, p + BLOCK));
      for (const c of candidates) {
        if (sig.compare(s, 0, STRONG, c * SIG_ENTRY + 4, c * SIG_ENTRY + 4 + STRONG) === 0) {
          hit = c;
          break;
        }
      }
    }
    if (hit >= 0) {
      flushLiteral(p);
      if (runCount && hit === runBlock + runCount) runCount++;
      else {
        flushRun();
        runBlock = hit;
        runCount = 1;
      }
      p += BLOCK;
      lit = p;
      fresh = true;
      continue;
    }
    // roll one byte: drop data[p], take data[p+BLOCK]
    if (p + BLOCK < data.length) {
      const out = data[p]!;
      const inb = data[p + BLOCK]!;
      a = (a - out + inb) & 0xffff;
      b = (b - BLOCK * out + a) & 0xffff;
    }
    p++;
  }
  flushLiteral(data.length);
  flushRun();
  return w.finish();
}

/**
 * Rebuild a chunk of exactly `length` bytes from `base` and delta ops from the other side; every
 * op is bounds-checked, so a hostile delta can only fail (PROTOCOL), never read or write outside.
 */
export function applyDelta(base: Uint8Array, ops: Buffer, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  const r = new Reader(ops, 'chunk delta');
  let pos = 0;
  const baseBlocks = Math.floor(base.length / BLOCK);
  while (r.remaining) {
    const op = r.u8();
    if (op === OP_LITERAL) {
      const lit = r.bytes(length - pos);
      out.set(lit, pos);
      pos += lit.length;
    } else if (op === OP_COPY) {
      const first = r.uvar(baseBlocks);
      const count = r.uvar(baseBlocks - first);
      const bytes = count * BLOCK;
      if (count === 0 || pos + bytes > length) r.fail('copy past the end of the chunk');
      out.set(base.subarray(first * BLOCK, first * BLOCK + bytes), pos);
      pos += bytes;
    } else {
      r.fail(`unknown delta op ${op}`);
    }
  }
  if (pos !== length) r.fail(`delta builds ${pos} bytes, not ${length}`);
  return out;
}
