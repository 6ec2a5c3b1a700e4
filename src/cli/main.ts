import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_PARAMS, validateParams, type ChunkParams } from '../chunker/params.js';
import type { Compression } from '../codec/chunk-codec.js';
import { parseEndpoint, type Endpoint } from '../engine/endpoint.js';
import { parseRule, rulesFromFile } from '../engine/filter.js';
import type { RunStats } from '../engine/events.js';
import { runSync } from '../engine/session.js';
import { DsyncError, toDsyncError } from '../errors/dsync-error.js';
import { EXIT } from '../errors/exit-codes.js';
import type { Connection } from '../transport/connection.js';
import { localAgent } from '../transport/local.js';
import { ssh2Connection } from '../transport/ssh2.js';
import { systemSshConnection } from '../transport/system-ssh.js';
import { MAX_STREAMS } from '../protocol/hello.js';
import { VERSION } from '../version.js';
import { parseSize } from './format.js';
import { JsonReporter } from './json-reporter.js';
import { LogFileReporter, tee } from './log-file.js';
import { ProgressReporter } from './progress.js';
import { writeMetrics } from './metrics.js';
import type { CliReporter } from './reporter.js';
import { TextReporter } from './text-reporter.js';
import { handleProcessEvents } from './process-handlers.js';

function usage(msg: string): never {
  throw new DsyncError('USAGE', msg);
}

export function parseCompression(s: string): Compression {
  if (s === 'auto' || s === 'none') return { kind: s };
  const n = Number(s);
  if (Number.isInteger(n) && n >= 1 && n <= 19) return { kind: 'level', level: n };
  return usage(`--compress takes auto, none or a level 1..19, not ${JSON.stringify(s)}`);
}

/** Failures worth another attempt: a connection that was up went wrong (a refused one fails fast). */
const RETRYABLE = new Set<string>(['CONN_LOST', 'TIMEOUT']);




/** A number option: `unit` names it in the error ("a whole number", "a number of seconds"). */
function parseNumber(flag: string, s: string, unit: string, o: { min?: number; max?: number; integer?: boolean } = {}): number {
  const n = Number(s);
  const { min = 0, max = Infinity, integer = false } = o;
  if (s.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    usage(`${flag} takes ${unit}${max < Infinity ? ` ${min}..${max}` : ''}, not ${JSON.stringify(s)}`);
  }
  return n;
}

function parseSizeFlag(flag: string, s: string): number {
  const n = parseSize(s);
  if (n === null) usage(`${flag} takes a size like 500M or 100G, not ${JSON.stringify(s)}`);
  return n;
}


function parseTransport(s: string): 'ssh' | 'tcp' {
  if (s !== 'ssh' && s !== 'tcp') usage(`--transport takes ssh or tcp, not ${JSON.stringify(s)}`);
  return s;
}

/** --bwlimit as rsync reads it: bytes per second, a bare number in KiB, K/M/G suffixes in powers of 1024. */
export function parseRate(s: string): number {
  const bytes = /^\d+(\.\d+)?$/.test(s.trim()) ? parseSize(`${s}K`) : parseSize(s);
  if (bytes === null) usage(`--bwlimit takes a rate in bytes per second like 50M or 1G (a bare number is KiB/s), not ${JSON.stringify(s)}`);
  return bytes;
}

export function parseChunkSizes(s: string): ChunkParams {
  const parts = s.split('/').map(parseSize);
  if (parts.length !== 3 || parts.some((p) => p === null)) usage(`--chunk-size takes MIN/AVG/MAX like 16K/64K/256K, not ${JSON.stringify(s)}`);
  const [min, avg, max] = parts as number[];
  return validateParams({ min: min!, avg: avg!, max: max! });
}

interface SyncFlags {
  dryRun?: boolean;
  delete?: boolean;
  checksum?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  progress?: boolean;
  compress: string;
  chunkSize?: string;
  json?: boolean;
  sshConfig?: string;
  remoteCmd: string;
  rsh?: string;
  acceptNewHostKey?: boolean;
  waitLock: string;
  logFile?: string;
  metricsFile?: string;
  retries: string;
  timeout: string;
  streams?: string;
  atomic?: boolean;
  keep?: string;
  stagingMaxAge: string;
  stagingMaxSize: string;
  transport: string;
  bwlimit: string;
}

type Kind = 'sync' | 'status' | 'verify';

/** sync, status and verify: one session, three purposes. */
async function runCommand(kind: Kind, src: string, dst: string, flags: SyncFlags, rules: string[], setCode: (code: number) => void): Promise<void> {
  const dryRun = kind !== 'sync' || !!flags.dryRun;
  const options = {
    deleteExtra: kind === 'verify' || !!flags.delete,
    dryRun,
    destIsDir: false,
    verify: kind === 'verify',
    checksum: !!flags.checksum,
    params: flags.chunkSize ? parseChunkSizes(flags.chunkSize) : DEFAULT_PARAMS,
    compression: parseCompression(flags.compress),
    filters: rules,
    reportItems: !!(flags.verbose || flags.json || dryRun || flags.logFile),
    waitLock: parseNumber('--wait-lock', flags.waitLock, 'a number of seconds'),
    timeout: parseNumber('--timeout', flags.timeout, 'a number of seconds'),
    streams: 1,
    transport: parseTransport(flags.transport),
    bwlimit: parseRate(flags.bwlimit),
    atomic: !!flags.atomic,
    keep: flags.keep === undefined ? 2 : parseNumber('--keep', flags.keep, 'a whole number', { integer: true, max: 100 }),
    stagingMaxAge: parseNumber('--staging-max-age', flags.stagingMaxAge, 'a number of days') * 86400,
    stagingMaxSize: parseSizeFlag('--staging-max-size', flags.stagingMaxSize),
  };
  for (const r of rules) parseRule(r); // a bad pattern is a usage error before anything starts
  const s = parseEndpoint(src);
  const d = parseEndpoint(dst);
  options.destIsDir = d.dirHint;
  // Between two local paths the "link" is a pipe: compressing would only burn CPU (as rsync, which
  // never compresses a local copy). An explicit level is still honoured.
  if (!s.host && !d.host && options.compression.kind === 'auto') options.compression = { kind: 'none' };
  // Locally both ends share the CPUs and no window limits a pipe: more streams would only cost.
  options.streams = flags.streams === undefined ? (s.host || d.host ? 4 : 1) : parseNumber('--streams', flags.streams, 'a whole number', { integer: true, min: 1, max: MAX_STREAMS });
  const connect = async (remote: Endpoint | null): Promise<Connection> => {
    if (!remote) return localAgent();
    const ssh = { configFile: flags.sshConfig ?? null, remoteCmd: flags.remoteCmd, acceptNewHostKey: !!flags.acceptNewHostKey };
    return flags.rsh ? systemSshConnection(flags.rsh, remote.host!, remote.user, ssh) : ssh2Connection(remote.host!, remote.user, ssh);
  };
  const text = new TextReporter({ mode: kind === 'sync' && !dryRun ? 'sync' : kind === 'verify' ? 'verify' : 'status', verbose: !!flags.verbose, quiet: !!flags.quiet, out: process.stdout, err: process.stderr });
  // Animated only for a person at a terminal: never with --json, -q, --no-progress or a pipe.
  const animate = flags.progress !== false && !flags.quiet && !flags.json && process.stderr.isTTY === true;
  const screen: CliReporter = flags.json ? new JsonReporter(process.stdout) : animate ? new ProgressReporter(text, process.stderr) : text;
  const reporter = flags.logFile ? tee(screen, new LogFileReporter(flags.logFile)) : screen;
  current = reporter;
  reporter.start({ command: kind, src, dst, dryRun });
  const startedAt = Date.now();
  const outcome = (exitCode: number, stats: RunStats | null) => ({ src, dst, startedAt, durationMs: Date.now() - startedAt, exitCode, stats });
  const retries = parseNumber('--retries', flags.retries, 'a whole number', { integer: true, max: 100 });
  let result;
  for (let attempt = 1, delay = 1; ; attempt++, delay = Math.min(delay * 2, 30)) {
    try {
      result = await runSync({ src: s, dst: d, options, connect }, reporter);
      break;
    } catch (err) {
      const e = toDsyncError(err);
      if (!RETRYABLE.has(e.code) || attempt > retries) {
        if (flags.metricsFile) await writeMetrics(flags.metricsFile, outcome(e.exitCode, null));
        throw e;
      }
      reporter.warning({ code: e.code, message: `${e.message}; retrying in ${delay} s (retry ${attempt} of ${retries}), resuming where it stopped`, recovered: true });
      await new Promise((r) => setTimeout(r, delay * 1000));
      // The far end of the dropped connection may not have noticed yet and still hold the lock.
      options.waitLock = Math.max(options.waitLock, 30);
    }
  }
  const st = result.stats;
  const differences = st.created + st.changed + st.metaOnly + st.deleted;
  const exitCode = kind === 'verify' && result.exitCode === EXIT.OK && differences > 0 ? EXIT.VERIFY_MISMATCH : result.exitCode;
  reporter.summary(st, exitCode);
  if (flags.metricsFile) await writeMetrics(flags.metricsFile, outcome(exitCode, st));
  setCode(exitCode);
}

const FOOTER = `
Every option can also be set as DSYNC_<OPTION> (in brackets); the command line wins.
Exit codes: 0 ok, 1 usage, 2 version mismatch, 3 source, 4 destination, 5 no dsync on the remote,
10/13/14 connection refused/lost/unknown host, 11 file I/O (e.g. disk full), 12 protocol,
20 interrupted, 23 partial, 24 source files vanished, 30 timeout, 40/41/42 SSH authentication,
unknown or changed host key, 50 verify found differences, 51 locked, 70 internal (README: table).`;

/** The reporter of the command being run, so a failure is reported in the same format (text or JSON). */
let current: CliReporter | null = null;

/**
 * DSYNC_<OPTION> environment variables for every option not given on the command line (a CI
 * secret store or a cron wrapper can set them): DSYNC_DELETE=1, DSYNC_SSH_CONFIG=..., DSYNC_PROGRESS=0.
 * Booleans take 1/true/yes or 0/false/no; DSYNC_EXCLUDE and DSYNC_INCLUDE take one pattern a line.
 */
export function envName(attribute: string): string {
  return `DSYNC_${attribute.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

function applyEnv(cmd: Command, rules: string[]): void {
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    const name = envName(key);
    const raw = process.env[name];
    if (raw === undefined || !['default', undefined].includes(cmd.getOptionValueSource(key))) continue;
    if (key === 'exclude' || key === 'include' || key === 'excludeFrom') {
      for (const v of raw.split('\n').filter(Boolean)) {
        if (key === 'excludeFrom') rules.push(...rulesFromFile(v));
        else rules.push(`${key === 'include' ? '+' : '-'} ${v}`);
      }
    } else if (opt.required || opt.optional) {
      cmd.setOptionValueWithSource(key, raw, 'env');
    } else {
      const v = raw.trim().toLowerCase();
      if (!['1', 'true', 'yes', '0', 'false', 'no', ''].includes(v)) usage(`${name} must be 1/true/yes or 0/false/no, not ${JSON.stringify(raw)}`);
      cmd.setOptionValueWithSource(key, ['1', 'true', 'yes'].includes(v), 'env');
    }
  }
}

function buildProgram(setCode: (code: number) => void): Command {
  const rules: string[] = []; // filter rules in command-line order (first match wins)
  const program = new Command('dsync')
    .description('Keep datasets in sync between machines: content-defined chunks, only missing data on the wire.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(`dsync: ${s.replace(/^error: /, 'error: ')}`),
    });

  const examples: Record<Kind, string> = {
    sync: `
Examples:
  dsync sync ./data /datasets/data                   local copy; only changed chunks are written
  dsync sync ./data gpu-node-3:/datasets/data        push over SSH (host from ~/.ssh/config)
  dsync sync data-server:/datasets/data ./data       pull over SSH
  dsync sync ./data node:/data --delete --json       nightly job: mirror, JSON events on stdout
  dsync sync ./data node:/data -n -v                 show what would change, change nothing
  dsync sync ./data node:/data --atomic --keep 3     readers switch to the new version at once
  dsync sync ./data node:/data --transport tcp --streams 8 --bwlimit 500M
                                                     a fast trusted network, capped at 500 MiB/s`,
    status: `
Examples:
  dsync status ./data gpu-node-3:/datasets/data      what a sync would change and send
  dsync status ./data /datasets/data --json          the same as JSON events`,
    verify: `
Examples:
  dsync verify ./data gpu-node-3:/datasets/data      re-read both sides; exit 50 if they differ
  dsync verify ./data /datasets/data -v              list every difference`,
  };
  const descriptions: Record<Kind, string> = {
    sync: 'make DST hold exactly what SRC holds (like rsync -a SRC/ DST/)',
    status: 'show what `sync` would change and how much it would send, changing nothing',
    verify: 're-read SRC and DST completely (no caches) and report every difference',
  };
  for (const kind of ['sync', 'status', 'verify'] as const) {
    const cmd = program
      .command(kind)
      .description(descriptions[kind])
      .argument('<src>', 'source directory or file: a local path or [user@]host:path')
      .argument('<dst>', 'destination directory: a local path or [user@]host:path');
    const opt = (flags: string, text: string, dflt?: string, dfltText?: string) => {
      const o = new Option(flags, text);
      if (dflt !== undefined) o.default(dflt, dfltText);
      cmd.addOption(o);
    };
    const rule = (flags: string, text: string, toRules: (v: string) => string[]) => {
      cmd.option(flags, text, (v: string) => {
        rules.push(...toRules(v));
      });
    };
    cmd.optionsGroup('What to change:');
    if (kind === 'sync') opt('-n, --dry-run', 'change nothing; list what would change');
    if (kind !== 'verify') opt('--delete', 'delete destination files that are not in the source');
    if (kind !== 'verify') opt('-c, --checksum', 'read every source file dsync has not read before, even where size and mtime match the destination (without it, such a file is taken as unchanged, as rsync does), and check every received chunk against its hash');
    if (kind === 'sync') {
      opt('--atomic', 'publish a whole new version at once: DST becomes a symlink to DST.versions/<time>, switched once everything is in place');
      opt('--keep <n>', 'with --atomic: previous versions to keep (unchanged files are hard links: they cost no space)', '2');
    }
    rule('--exclude <pattern>', 'leave out paths matching this glob (repeatable; neither sent nor deleted)', (v) => [`- ${v}`]);
    rule('--include <pattern>', 'keep paths matching this glob even if a later --exclude matches (repeatable)', (v) => [`+ ${v}`]);
    rule('--exclude-from <file>', 'read exclude patterns from a file, one a line (!pattern includes)', rulesFromFile);
    cmd.optionsGroup('Output:');
    opt('-v, --verbose', 'list every change');
    opt('-q, --quiet', 'print errors only');
    opt('--progress', 'show a progress display (the default on a terminal)');
    opt('--no-progress', 'do not show a progress display');
    opt('--json', 'print newline-delimited JSON events on stdout instead of text');
    opt('--log-file <file>', 'append a timestamped log of the run to this file');
    opt('--metrics-file <file>', 'write Prometheus metrics of the run to this file (for a node exporter)');
    cmd.optionsGroup('Transfer:');
    opt('--compress <mode>', 'chunk compression: auto (where it makes data leave faster, measured as it goes), none, or a zstd level 1..19', 'auto');
    opt('--streams <n>', `parallel data streams, 1..${MAX_STREAMS}; chunks of large files are spread over them (default: 4 to a remote host, 1 between local paths)`);
    opt('--transport <kind>', 'data streams over ssh (channels of the SSH connection) or tcp (direct TCP sealed with AES-256-GCM, for fast trusted networks)', 'ssh');
    opt('--bwlimit <rate>', 'limit the total over all streams, in bytes per second: 50M, 1G (a bare number is KiB/s, as in rsync)', '0', 'no limit');
    opt('--chunk-size <min/avg/max>', 'content-defined chunk sizes', '16K/64K/256K');
    cmd.optionsGroup('SSH:');
    opt('--ssh-config <file>', 'read this ssh client config instead of ~/.ssh/config (like ssh -F)');
    opt('--remote-cmd <cmd>', 'how to run dsync on the remote host (like rsync --rsync-path)', 'dsync');
    opt('-e, --rsh <cmd>', 'reach the remote host with this command (e.g. ssh) instead of the built-in SSH client');
    opt('--accept-new-host-key', 'add an unknown host key to known_hosts (a changed key is always refused)');
    cmd.optionsGroup('Failures and resuming:');
    opt('--retries <n>', 'retry a run whose connection dropped, resuming where it stopped, up to N times', '3');
    opt('--timeout <seconds>', 'give up on the other side after this long without any data from it', '0', 'never');
    opt('--wait-lock <seconds>', 'if another run holds the destination, wait this long for it', '0', 'fail at once');
    opt('--staging-max-age <days>', 'keep what an interrupted run staged (for a resume) at most this long', '7');
    opt('--staging-max-size <size>', 'and at most this much of it, oldest dropped first', '100G');
    cmd
      .addHelpText('after', `${examples[kind]}\n${FOOTER}`)
      .action((src: string, dst: string, flags: SyncFlags) => runCommand(kind, src, dst, flags, rules, setCode));
    cmd.hook('preAction', (c) => applyEnv(c, rules));
    for (const o of cmd.options) o.description += ` [${envName(o.attributeName())}]`;
  }

  return program;
}

/** Run the CLI; resolves to the process exit code. Errors become one line on stderr. */
export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.OK;
  const program = buildProgram((c) => {
    code = c;
  });
  handleProcessEvents(() => code);
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const e = toDsyncError(err);
    if (current) current.error(e);
    else process.stderr.write(`dsync: error: ${e.message}\n`);
    return e.exitCode;
  }
}
