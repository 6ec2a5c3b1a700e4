import { closeSync, constants, linkSync, openSync, promises as fsp, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DsyncError } from '../errors/dsync-error.js';
import { mkdirIfMissing, mkdirp } from '../util/mkdirp.js';

interface Holder {
  pid: number;
  host: string;
  since: string;
}

const POLL_MS = 200;

/**
 * One run at a time per destination: a lock file created exclusively in the destination's state
 * directory. A lock whose owner is gone (same host, process no longer alive) is taken over; one
 * held by a live process is waited for up to `waitSeconds`, then refused with who holds it.
 */
export class DestLock {
  private constructor(private readonly file: string) {}

  static async acquire(file: string, dest: string, waitSeconds: number): Promise<DestLock> {
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      const me: Holder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
      // Synchronous: a handful of calls of microseconds each, where a thread-pool round trip each
      // held up the start of every run by 8-14 ms.
      try {
        createWhole(file, JSON.stringify(me));
        removeLeftovers(file);
        return new DestLock(file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          await makeStateDir(path.dirname(file)); // the last run removed it
          continue;
        }
        if (code !== 'EEXIST') throw err;
      }
      const holder = await readHolder(file);
      if (holder === 'gone') continue;
      if (!holder || isStale(holder)) {
        // Take over a lock left by a dead run (or a torn lock file): remove it and try again.
        // Two runs racing here both unlink, and O_EXCL lets only one of them create the new one.
        await fsp.rm(file, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        throw new DsyncError('LOCKED', `destination ${dest} is locked by pid ${holder.pid} on host ${holder.host} since ${holder.since}; wait for it or use --wait-lock SECONDS`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  async release(): Promise<void> {
    await fsp.rm(this.file, { force: true });
  }
}

/**
 * Create `file` holding `text`, failing with EEXIST if it exists. It is written whole beside it
 * and then linked into place (link fails on an existing name, as O_EXCL does), so a run killed at
 * any moment leaves no empty lock that the next run must take for one being written. Where the
 * filesystem has no hard links, it is created with O_EXCL and written (see readHolder).
 */
function createWhole(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text, { mode: 0o644 });
    linkSync(tmp, file);
    return;
  } catch (err) {
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/**
 * Lock files half made by runs killed before they linked them: litter once the lock is held (a
 * run racing for it right now just tries again), which would keep the state directory from being
 * removed.
 */
function removeLeftovers(file: string): void {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) if (name.startsWith(prefix) && name.endsWith('.tmp')) rmSync(path.join(dir, name), { force: true });
}

/** The state directory, whose parent (the destination's) is there but for a first run. */
async function makeStateDir(dir: string): Promise<void> {
  try {
    mkdirIfMissing(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdirp(dir, 0o700);
  }
}

/** The lock's holder; 'gone' if the lock vanished meanwhile; null if it is unreadable and old. */
async function readHolder(file: string): Promise<Holder | 'gone' | null> {
  try {
    const h = JSON.parse(await fsp.readFile(file, 'utf8')) as Holder;
    if (Number.isInteger(h.pid) && typeof h.host === 'string') return h;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
  }
  // Torn or empty (only where createWhole had to fall back to O_EXCL): its writer may be writing
  // it right now, so it only counts as stale when old.
  const st = await fsp.stat(file).catch(() => null);
  if (!st) return 'gone';
  return Date.now() - st.mtimeMs < 5000 ? { pid: 0, host: '?', since: 'a moment ago' } : null;
}

function isStale(h: Holder): boolean {
  if (h.host !== os.hostname() || h.pid === 0) return false; // cannot tell for another host
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  // A killed run can linger as a zombie until it is reaped: it holds nothing any more.
  try {
    const stat = readFileSync(`/proc/${h.pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}
