// End to end on this machine: dsync between two local directories beside `rsync -a` on the same
// data (initial copy, no change, next-day edits), best of 3 each. Over SSH and a simulated WAN, use
// ../shared/bench/compare.sh (README: Benchmarks).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync, appendFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/dsync.js', import.meta.url));
const MiB = 1024 * 1024;
const work = mkdtempSync(path.join(os.tmpdir(), 'dsync-bench-'));
const v1 = path.join(work, 'v1');
const v2 = path.join(work, 'v2');
const env = { ...process.env, DSYNC_CACHE_DIR: path.join(work, 'cache') };
const haveRsync = spawnSync('rsync', ['--version']).status === 0;

function shard(seed: number, bytes: number): string {
  const lines: string[] = [];
  let len = 0;
  for (let i = 0; len < bytes; i++) {
    const line = `{"id":${seed * 1e6 + i},"text":"sample ${(i * 2654435761 + seed) % 1000003} of shard ${seed}","v":${Math.sin(i + seed).toFixed(6)}}\n`;
    lines.push(line);
    len += line.length;
  }
  return lines.join('');
}

// v1: 64 text shards of 2 MiB and 32 binary arrays of 4 MiB (256 MiB); v2: a day of changes.
for (const d of ['text', 'arrays/a', 'arrays/b']) mkdirSync(path.join(v1, d), { recursive: true });
for (let i = 0; i < 64; i++) writeFileSync(path.join(v1, 'text', `shard-${i}.jsonl`), shard(i, 2 * MiB));
for (let i = 0; i < 32; i++) writeFileSync(path.join(v1, 'arrays', i < 16 ? 'a' : 'b', `arr-${i}.bin`), randomBytes(4 * MiB));
cpSync(v1, v2, { recursive: true, preserveTimestamps: true });
for (let i = 0; i < 8; i++) {
  const f = path.join(v2, 'text', `shard-${i}.jsonl`);
  writeFileSync(f, `{"id":-1,"text":"inserted"}\n${readFileSync(f, 'utf8')}`); // records inserted at the front
}
for (let i = 8; i < 12; i++) appendFileSync(path.join(v2, 'text', `shard-${i}.jsonl`), shard(1000 + i, 256 * 1024));
renameSync(path.join(v2, 'arrays', 'b'), path.join(v2, 'arrays', 'b-renamed'));

function time(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
  return (performance.now() - t0) / 1000;
}

type Tool = { name: string; run: (src: string, dst: string) => number };
const tools: Tool[] = [{ name: 'dsync', run: (src, dst) => time(process.execPath, [BIN, 'sync', src, dst, '--delete', '-q']) }];
if (haveRsync) tools.push({ name: 'rsync -a', run: (src, dst) => time('rsync', ['-a', '--delete', `${src}/`, `${dst}/`]) });

for (const tool of tools) {
  const results: Record<string, number> = { initial: Infinity, nochange: Infinity, incremental: Infinity };
  for (let r = 0; r < 3; r++) {
    const dst = path.join(work, 'dst');
    rmSync(dst, { recursive: true, force: true });
    rmSync(env.DSYNC_CACHE_DIR, { recursive: true, force: true });
    results.initial = Math.min(results.initial!, tool.run(v1, dst));
    results.nochange = Math.min(results.nochange!, tool.run(v1, dst));
    results.incremental = Math.min(results.incremental!, tool.run(v2, dst));
  }
  console.log(`sync local ${tool.name}: initial ${results.initial!.toFixed(2)} s, no change ${results.nochange!.toFixed(2)} s, next day ${results.incremental!.toFixed(2)} s (256 MiB, 96 files, best of 3)`);
}
rmSync(work, { recursive: true, force: true });
