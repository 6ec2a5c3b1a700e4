import { GEAR, GEAR_LS } from './gear.js';
import { GEAR_WASM } from './gear-wasm.js';
import type { ChunkParams } from './params.js';

const MODULE = new WebAssembly.Module(Buffer.from(GEAR_WASM, 'base64'));
const TABLES = 2048; // the two gear tables, at the start of the module's memory (see gear.wat)
const PAGE = 64 * 1024;

interface GearLoop {
  mem: WebAssembly.Memory;
  h: WebAssembly.Global;
  run: (i: number, stop: number, m2: number, m1: number) => number;
}

/**
 * FastCDC-style content-defined cut finder over a 32-bit gear hash.
 *
 * Normalized chunking: before the normal point a cut needs `log2(avg)+2` zero bits (rare), after
 * it `log2(avg)-2` (frequent), which pulls chunk sizes toward the average. The first `min` bytes of a
 * chunk are never hashed (a cut cannot fall there), and the loop rolls two bytes per step with a
 * pre-shifted table. Mask bits sit in bits 30..k so that the half-step check on `h << 1` tests the
 * same number of bits as the full-step check. The loop itself is gear.wat's.
 */
export class Cutter {
  private readonly maskS: number;
  private readonly maskL: number;
  private readonly min: number;
  private readonly max: number;
  private readonly normal: number;
  private readonly gear: GearLoop;
  /** The module's memory as bytes; made again if the memory grows (growing detaches the old one). */
  private bytes: Uint8Array;
  private scan: Buffer | null = null;

  constructor(readonly params: ChunkParams) {
    const bits = Math.log2(params.avg);
    this.maskS = topMask(bits + 2);
    this.maskL = topMask(bits - 2);
    this.min = params.min;
    this.max = params.max;
    // Skipping `min` bytes lengthens chunks; switching masks min/2 before `avg` brings the mean
    // back near `avg` (about +4% for the defaults) instead of avg + min/2.
    this.normal = Math.max(params.min, params.avg - (params.min >> 1));
    // After the tables, room for one chunk of data from outside the module's memory.
    this.gear = new WebAssembly.Instance(MODULE).exports as unknown as GearLoop;
    this.gear.mem.grow(Math.ceil((TABLES + this.max) / PAGE) - 1);
    this.bytes = new Uint8Array(this.gear.mem.buffer);
    const tables = new Int32Array(this.gear.mem.buffer, 0, 512);
    tables.set(GEAR, 0);
    tables.set(GEAR_LS, 256);
  }

  /**
   * A buffer of `size` bytes inside the module's memory, for reading files into: data cut there is
   * not copied first. One a cutter (the same on every call), at most `size` of the first call.
   */
  scanBuffer(size: number): Buffer {
    if (this.scan) return this.scan;
    const at = TABLES + this.max;
    this.gear.mem.grow(Math.max(0, Math.ceil((at + size) / PAGE) - this.gear.mem.buffer.byteLength / PAGE));
    this.bytes = new Uint8Array(this.gear.mem.buffer);
    return (this.scan = Buffer.from(this.gear.mem.buffer, at, size));
  }

  /**
   * Length of the chunk starting at `start` in buf[start, end), or 0 if more data is needed to
   * decide. With `eof` the data ends at `end` and the remaining bytes form the last chunk.
   */
  cut(buf: Uint8Array, start: number, end: number, eof: boolean): number {
    const min = this.min, max = this.max;
    const avail = end - start;
    if (avail <= min) return eof ? avail : 0;
    const limit = start + Math.min(avail, max);
    // Where buf[start] is in the module's memory: in place for the scan buffer, else the bytes
    // that can be hashed (never the first `min`) are copied in after the tables.
    let at = TABLES - start;
    if (buf.buffer === this.gear.mem.buffer) at = buf.byteOffset;
    else this.bytes.set(buf.subarray(start + min, limit), TABLES + min);
    const first = at + start;
    const stop = at + limit;
    const normal = Math.min(stop, first + this.normal);
    const mS = this.maskS, mL = this.maskL;
    this.gear.h.value = 0;
    let r = this.gear.run(first + min, normal, mS << 1, mS);
    if (r >= 0) return r - first;
    r = this.gear.run(-1 - r, stop, mL << 1, mL);
    if (r >= 0) return r - first;
    const i = -1 - r;
    if (i < stop) {
      // A lone last byte: decide it only when no later data could pair with it, so cuts never
      // depend on how the input was split into reads.
      if (!eof && limit - start < max) return 0;
      const h = (((this.gear.h.value as number) << 1) + GEAR[this.bytes[i]!]!) | 0;
      if ((h & (i < first + this.normal ? mS : mL)) === 0) return i - first + 1;
    }
    if (limit - start === max) return max;
    return eof ? avail : 0;
  }
}

function topMask(bits: number): number {
  return (((1 << bits) - 1) << (31 - bits)) | 0;
}
