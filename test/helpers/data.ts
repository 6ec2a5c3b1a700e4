/** Deterministic incompressible bytes (xorshift32), so re-sent data shows in byte counts and failures reproduce. */
export function noise(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let s = (seed * 2 + 1) | 0; // odd (xorshift needs a non-zero state), and a different stream for every seed
  for (let i = 0; i + 4 <= n; i += 4) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    b.writeInt32LE(s, i);
  }
  b.fill(0, n - (n % 4));
  return b;
}
