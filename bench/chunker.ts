// Chunker throughput on 256 MiB of random data: cut points alone, and cut points plus SHA-256.
import { randomBytes } from 'node:crypto';
import { Cutter } from '../src/chunker/cdc.js';
import { chunkBuffer, cutPoints } from '../src/chunker/chunk-file.js';
import { DEFAULT_PARAMS } from '../src/chunker/params.js';

const MiB = 1024 * 1024;
const data = randomBytes(256 * MiB);
const cutter = new Cutter(DEFAULT_PARAMS);

function run(label: string, fn: () => number): void {
  fn(); // warm-up: let the JIT compile the loop before measuring
  const times: number[] = [];
  let chunks = 0;
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    chunks = fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const best = Math.min(...times);
  console.log(`chunker ${label}: ${(256 / best).toFixed(0)} MiB/s (best of 3, 256 MiB random, ${chunks} chunks, mean ${(data.length / chunks / 1024).toFixed(1)} KiB)`);
}

run('cut points', () => cutPoints(data, cutter).length);
run('cut points + sha256', () => chunkBuffer(data, cutter).count);
