import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors/exit-codes.js';
import { REPO, runCli, scratch } from '../helpers/cli.js';

const codes = [...new Set(Object.values(EXIT))].sort((a, b) => a - b);

describe('help for people', () => {
  const s = scratch();
  const cli = (...args: string[]) => runCli(args, { cacheDir: path.join(s.dir, 'cache') });
  afterAll(s.cleanup);

  it('dsync --help lists the commands (not the internal agent) and exits 0', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    for (const c of ['sync', 'status', 'verify']) expect(r.stdout).toMatch(new RegExp(`^  ${c} \\[options\\] <src> <dst>`, 'm'));
    expect(r.stdout).not.toMatch(/agent/);
  });

  for (const kind of ['sync', 'status', 'verify']) {
    it(`dsync ${kind} --help: grouped options, each with its DSYNC_ variable, real examples, every exit code`, async () => {
      const r = await cli(kind, '--help');
      expect(r.code).toBe(0);
      const examples = r.stdout.split('Examples:\n')[1]!.split('\n\n')[0]!.split('\n').filter((l) => /^ {2}dsync /.test(l));
      expect(examples.length).toBeGreaterThanOrEqual(2);
      for (const e of examples) expect(e).toMatch(new RegExp(`^ {2}dsync ${kind} \\S+ \\S+`));
      for (const heading of ['What to change:', 'Output:', 'Transfer:', 'SSH:', 'Failures and resuming:']) expect(r.stdout).toContain(heading);
      const options = r.stdout.match(/^ {2}(?:-\w, )?--[\w-]+/gm)!.filter((o) => !o.includes('--help'));
      const envs = r.stdout.match(/\[DSYNC_[A-Z_]+\]/g)!;
      expect(envs.length).toBe(options.length);
      const footer = r.stdout.split('Exit codes:')[1]!;
      const mentioned = [...new Set(footer.match(/\b\d+\b/g)!.map(Number))].sort((a, b) => a - b);
      expect(mentioned).toEqual(codes);
    });
  }

  it('the README documents every exit code, and only those', () => {
    const table = readFileSync(path.join(REPO, 'README.md'), 'utf8').split('## Exit codes')[1]!.split('\n## ')[0]!;
    const rows = [...table.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    expect(rows).toEqual(codes);
  });
});
