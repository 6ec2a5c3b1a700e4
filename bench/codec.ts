// Codec throughput, one core: zstd per 64 KiB chunk (compressible text and incompressible noise, as
// --compress auto sees them), a delta against the old chunk for a small edit, and the AES-256-GCM
// record layer of --transport tcp.
import { randomBytes } from 'node:crypto';
import { newSessionKey, Opener, Sealer } from '../src/codec/aead.js';
import { ChunkDecoder, ChunkEncoder } from '../src/codec/chunk-codec.js';
import { signature } from '../src/codec/delta.js';
import { sha256 } from '../src/chunker/chunk-file.js';
import { ENC } from '../src/protocol/messages.js';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
const TOTAL = 128 * MiB;

/** JSON lines like a training shard: compressible, not trivially so. */
function textLike(n: number): Buffer {
  const words = ['the', 'model', 'token', 'gradient', 'dataset', 'shard', 'epoch', 'loss', 'vision', 'label', 'sample'];
  const parts: string[] = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const line = `{"id":${i},"text":"${Array.from({ length: 12 }, (_, k) => words[(i * 7 + k * 13) % words.length]).join(' ')} ${(i * 2654435761) % 1000003}","score":${((i * 31) % 997) / 997}}\n`;
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

function best(fn: () => void): number {
  fn(); // warm-up
  let t = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    t = Math.min(t, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return t;
}

function chunksOf(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p < data.length; p += CHUNK) out.push(data.subarray(p, p + CHUNK));
  return out;
}

for (const [name, data] of [['text', textLike(TOTAL)], ['noise', randomBytes(TOTAL)]] as const) {
  const chunks = chunksOf(data);
  const enc = new ChunkEncoder({ kind: 'auto' });
  let wire = 0;
  const encoded = chunks.map((c) => {
    const e = enc.encode(c);
    return { encoding: e.encoding, payload: Buffer.from(e.payload) }; // the encoder reuses its output buffer
  });
  const tEnc = best(() => {
    wire = 0;
    for (const c of chunks) wire += enc.encode(c).payload.length;
  });
  const frames = encoded.map((e, i) => ({ hash: sha256(chunks[i]!), encoding: e.encoding, rawLength: chunks[i]!.length, data: Buffer.from(e.payload) }));
  const tDec = best(() => {
    const dec = new ChunkDecoder();
    for (const f of frames) dec.decode(f, () => null);
  });
  const raw = frames.every((f) => f.encoding === ENC.RAW);
  const decode = raw ? 'sent raw, nothing to decode' : `decode ${(TOTAL / MiB / tDec).toFixed(0)} MiB/s`;
  console.log(`codec compress auto (${name}): encode ${(TOTAL / MiB / tEnc).toFixed(0)} MiB/s, ${decode}, ratio ${(wire / TOTAL).toFixed(3)}`);
}

{
  // A 16-byte edit in the middle of each chunk, sent as a delta against the old chunk.
  const old = chunksOf(textLike(32 * MiB));
  const edited = old.map((c) => {
    const e = Buffer.from(c);
    e.write('sixteen-byte-ed!', c.length >> 1);
    return e;
  });
  const sigs = old.map((c) => ({ hash: sha256(c), sig: signature(c) }));
  const enc = new ChunkEncoder({ kind: 'auto' });
  let wire = 0;
  const t = best(() => {
    wire = 0;
    for (let i = 0; i < edited.length; i++) wire += enc.encode(edited[i]!, sigs[i]).payload.length;
  });
  console.log(`codec delta (16-byte edit per 64 KiB chunk): ${(32 / t).toFixed(0)} MiB/s, ${(wire / edited.length).toFixed(0)} bytes per chunk on the wire (+${sigs[0]!.sig.length} bytes of signature sent back)`);
}

{
  const key = newSessionKey();
  const data = randomBytes(TOTAL);
  const parts = chunksOf(data);
  let sealed: Buffer[] = [];
  const tSeal = best(() => {
    const s = new Sealer(key, 0, 0);
    sealed = parts.flatMap((p) => s.seal([p]));
  });
  const wireBytes = Buffer.concat(sealed);
  const tOpen = best(() => {
    const o = new Opener(key, 0, 0);
    o.push(wireBytes);
  });
  console.log(`aead aes-256-gcm records: seal ${(TOTAL / MiB / tSeal).toFixed(0)} MiB/s, open ${(TOTAL / MiB / tOpen).toFixed(0)} MiB/s`);
}
