import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { events, runCli, scratch } from '../helpers/cli.js';

/** The --json schema (version 1) as documented in README.md: field -> type, for every event. */
const SCHEMA: Record<string, Record<string, string>> = {
  start: { event: 'string', schema: 'number', version: 'string', time: 'string', command: 'string', src: 'string', dst: 'string', dryRun: 'boolean' },
  item: { event: 'string', action: 'string', type: 'string', path: 'string', size: 'number' },
  progress: { event: 'string', bytes: 'number', wireBytes: 'number', elapsedMs: 'number' },
  warning: { event: 'string', code: 'string', exitCode: 'number', message: 'string' },
  error: { event: 'string', code: 'string', exitCode: 'number', message: 'string' },
  summary: Object.fromEntries(
    ['entries', 'files', 'bytes', 'created', 'changed', 'metaOnly', 'deleted', 'chunksTotal', 'chunksLocal', 'chunksSent', 'bytesLocal', 'bytesSent', 'wireBytes', 'warnings', 'chunksResumed', 'sourceRead', 'destRead', 'durationMs', 'throughput', 'exitCode']
      .map((k) => [k, 'number'])
      .concat([['event', 'string']]),
  ),
};

function checkSchema(ev: Record<string, unknown>): void {
  const shape = SCHEMA[ev.event as string];
  expect(shape, `unknown event ${JSON.stringify(ev)}`).toBeDefined();
  for (const [k, t] of Object.entries(shape!)) expect(typeof ev[k], `${ev.event}.${k}`).toBe(t);
  if (ev.event === 'start') expect(ev.schema).toBe(1);
  if (ev.event === 'item') {
    expect(['new', 'changed', 'meta', 'deleted']).toContain(ev.action);
    expect(['file', 'dir', 'symlink']).toContain(ev.type);
  }
}

describe('--json events', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  const src = path.join(s.dir, 'src');
  mkdirSync(path.join(src, 'd'), { recursive: true });
  writeFileSync(path.join(src, 'd', 'f.bin'), Buffer.alloc(300_000, 9));
  execFileSync('mkfifo', [path.join(src, 'a-fifo')]); // a special file: skipped with a warning
  afterAll(s.cleanup);

  it('every event of a run with changes, a warning and a summary follows the schema; stdout holds nothing else', async () => {
    const r = await runCli(['sync', src, path.join(s.dir, 'dst'), '--json'], { cacheDir: cache });
    expect(r.code).toBe(23); // the special file was skipped: a partial transfer
    const evs = events(r); // throws if any stdout line is not JSON
    for (const ev of evs) checkSchema(ev);
    const kinds = new Set(evs.map((e) => e.event));
    for (const k of ['start', 'item', 'progress', 'warning', 'summary']) expect(kinds).toContain(k);
    expect(evs[0]!.event).toBe('start');
    expect(evs[evs.length - 1]).toMatchObject({ event: 'summary', exitCode: 23 });
    expect(evs.find((e) => e.event === 'warning')).toMatchObject({ code: 'PARTIAL', exitCode: 23, message: expect.stringMatching(/special file a-fifo/) });
  });

  it('a failed run ends with an error event that carries the exit code', async () => {
    const r = await runCli(['sync', path.join(s.dir, 'missing'), path.join(s.dir, 'dst'), '--json'], { cacheDir: cache });
    const evs = events(r);
    for (const ev of evs) checkSchema(ev);
    expect(evs[evs.length - 1]).toMatchObject({ event: 'error', code: 'SOURCE', exitCode: r.code });
  });
});
