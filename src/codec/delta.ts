import xxhash from 'xxhash-wasm';
import { Reader, Writer } from '../util/binary.js';
import { DELTA_WASM } from './delta-wasm.js';

const { h32Raw } = await xxhash();

/**
 * Deltas inside a changed chunk, rsync style. The receiver still has the old chunk at that place
 * (the base) but the sender does not, so the receiver sends a signature of the base: per block of
 * BLOCK bytes a rolling weak checksum and a 32-bit xxHash. The sender finds those blocks in the
 * new chunk and sends only what is not in them. A 16-byte edit in a 64 KiB chunk then costs the
 * signature (256 bytes) plus about one block of literals instead of the whole chunk.
 * A wrong match (colliding checksums) cannot corrupt anything: the receiver checks every chunk it
 * rebuilds from a delta against its SHA-256, and fetches it whole if it fails. So the block hash only has to be
 * fast: xxHash is five times cheaper than SHA-256 here, and signatures are computed for every
 * changed chunk on the critical path of an update.
 */
export const BLOCK = 2048;
const SIG_ENTRY = 8; // weak:u32 strong:u32
export const SIG_ENTRY_LEN = SIG_ENTRY;

const strong = (data: Uint8Array, p: number): number => h32Raw(data.subarray(p, p + BLOCK), 0);

interface DeltaLoops {
  mem: WebAssembly.Memory;
  a: WebAssembly.Global;
  b: WebAssembly.Global;
  weak(p: number): number;
  scan(p: number, len: number, a: number, b: number, skip: number): number;
}

/** The weak sum and the search for candidate positions, in WebAssembly (see delta.wat). */
const loops = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(DELTA_WASM, 'base64'))).exports as unknown as DeltaLoops;
const DATA_AT = 65536; // after the filter: one byte for each of the 2^16 folded weak sums

/** Copy `data` into the module's memory (grown to hold it) and return that memory. */
function place(data: Uint8Array): Uint8Array {
  const need = DATA_AT + data.length - loops.mem.buffer.byteLength;
  if (need > 0) loops.mem.grow(Math.ceil(need / 65536));
  const mem = new Uint8Array(loops.mem.buffer);
  mem.set(data, DATA_AT);
  return mem;
}

/** A weak sum as signatures hold it: b (modulo 2^16) in the high half, a in the low half. */
const pack = (a: number, b: number): number => (((b & 0xffff) << 16) | (a & 0xffff)) >>> 0;
const filterIndex = (weak: number): number => (weak ^ (weak >>> 16)) & 0xffff;

/** The signature of a base chunk: one entry per whole block. */
export function signature(base: Uint8Array): Buffer {
  const n = Math.floor(base.length / BLOCK);
  const out = Buffer.allocUnsafe(n * SIG_ENTRY);
  place(base);
  for (let i = 0; i < n; i++) {
    out.writeUInt32BE(loops.weak(i * BLOCK) >>> 0, i * SIG_ENTRY);
    out.writeUInt32BE(strong(base, i * BLOCK), i * SIG_ENTRY + 4);
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
  const strongs = new Uint32Array(blocks);
  const byWeak = new Map<number, number[]>();
  // Most positions of a search match no block: a filter of 64K one-byte entries on the weak sum
  // answers those in the module. Its entries are set for this call and cleared after it.
  const mem = place(data);
  for (let i = 0; i < blocks; i++) {
    const w = sig.readUInt32BE(i * SIG_ENTRY);
    strongs[i] = sig.readUInt32BE(i * SIG_ENTRY + 4);
    mem[filterIndex(w)] = 1;
    const list = byWeak.get(w);
    if (list) list.push(i);
    else byWeak.set(w, [i]);
  }
  try {
    return search(data, blocks, strongs, byWeak);
  } finally {
    for (const w of byWeak.keys()) mem[filterIndex(w)] = 0;
  }
}

function search(data: Uint8Array, blocks: number, strongs: Uint32Array, byWeak: Map<number, number[]>): Buffer {
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
  const matched = (hit: number) => {
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
  };
  let p = 0;
  let a = 0;
  let b = 0;
  let skip = 0; // the search goes on past a position whose candidates did not match
  let fresh = true;
  while (blocks && p + BLOCK <= data.length) {
    if (fresh) {
      // Unchanged data continues the run: the next base block, checked by its strong hash alone
      // (a false match is caught by the chunk's SHA-256, see above).
      const next = runBlock + runCount;
      if (runCount && next < blocks && strongs[next] === strong(data, p)) {
        matched(next);
        continue;
      }
      const weak = loops.weak(p);
      a = weak & 0xffff;
      b = weak >>> 16;
      skip = 0;
      fresh = false;
    }
    p = loops.scan(p, data.length, a, b, skip);
    if (p < 0) break; // no block of the base further on
    a = loops.a.value as number;
    b = loops.b.value as number;
    const candidates = byWeak.get(pack(a, b));
    const s = candidates && strong(data, p);
    const hit = candidates?.find((c) => strongs[c] === s);
    if (hit !== undefined) matched(hit);
    else skip = 1;
  }
  flushLiteral(data.length);
  flushRun();
  return w.finish();
}

/**
 * Rebuild a chunk of exactly `length` bytes from `base` and delta ops from the other side (into
 * `into` if given, at least `length` long); every op is bounds-checked, so a hostile delta can
 * only fail (PROTOCOL), never read or write outside.
 */
export function applyDelta(base: Uint8Array, ops: Buffer, length: number, into?: Buffer): Buffer {
  const out = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
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
