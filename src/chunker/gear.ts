/**
 * The gear table: 256 pseudo-random 32-bit words. Chunk boundaries depend on it, so it is part of the
 * protocol: it is generated from a fixed seed with xorshift32, reproducible on any machine.
 */
function makeTable(): Int32Array {
  const t = new Int32Array(256);
  let s = 0x9e3779b9 | 0;
  for (let i = 0; i < 256; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    t[i] = s;
  }
  return t;
}

export const GEAR = makeTable();
/** GEAR shifted left by one: lets the chunker roll two bytes per step (FastCDC 2020). */
export const GEAR_LS = GEAR.map((v) => v << 1);
