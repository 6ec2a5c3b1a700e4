import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, runCli, scratch, why } from '../helpers/cli.js';

const SAMPLE = path.join(REPO, 'fixtures', 'sample');

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`no ${name} in\n${text}`);
  return Number(m[1]);
}

describe('unattended runs: metrics file and log file', () => {
  const s = scratch();
  const cache = path.join(s.dir, 'cache');
  const prom = path.join(s.dir, 'dsync.prom');
  const log = path.join(s.dir, 'dsync.log');
  afterAll(s.cleanup);

  it('writes Prometheus metrics after success and keeps the last success time after a failure', async () => {
    const ok = await runCli(['sync', SAMPLE, path.join(s.dir, 'dst'), '-q', '--metrics-file', prom, '--log-file', log], { cacheDir: cache });
    expect(ok.code, why(ok)).toBe(0);
    const first = readFileSync(prom, 'utf8');
    expect(first).toMatch(/^# TYPE dsync_last_success_timestamp_seconds gauge$/m);
    expect(metric(first, 'dsync_last_run_success')).toBe(1);
    expect(metric(first, 'dsync_last_run_files_changed')).toBeGreaterThan(5);
    const success = metric(first, 'dsync_last_success_timestamp_seconds');
    expect(Math.abs(success - Date.now() / 1000)).toBeLessThan(60);

    const bad = await runCli(['sync', path.join(s.dir, 'missing'), path.join(s.dir, 'dst'), '-q', '--metrics-file', prom, '--log-file', log], { cacheDir: cache });
    expect(bad.code).toBe(3);
    const second = readFileSync(prom, 'utf8');
    expect(metric(second, 'dsync_last_run_success')).toBe(0);
    expect(metric(second, 'dsync_last_run_exit_code')).toBe(3);
    expect(metric(second, 'dsync_last_success_timestamp_seconds')).toBe(success);

    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT.* start sync /);
    expect(lines.some((l) => / new text\/shard-00000\.jsonl$/.test(l))).toBe(true);
    expect(lines.some((l) => / done exit=0 /.test(l))).toBe(true);
    expect(lines[lines.length - 1]).toMatch(/ error SOURCE exit=3: /);
  });
});
