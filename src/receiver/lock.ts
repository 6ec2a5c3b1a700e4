import { constants, promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkdirp } from '../util/mkdirp.js';
import { DsyncError } from '../errors/dsync-error.js';

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
      try {
        await createWhole(file, JSON.stringify(me));
        await removeLeftovers(file);
        return new DestLock(file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          await mkdirp(path.dirname(file), 0o700); // the last run removed the state directory
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
async function createWhole(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await fsp.writeFile(tmp, text, { mode: 0o644 });
    await fsp.link(tmp, file);
    return;
  } catch (err) {
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await fsp.rm(tmp, { force: true });
  }
  const fh = await fsp.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  try {
    await fh.writeFile(text);
  } finally {
    await fh.close();
  }
}

/**
 * Lock files half made by runs killed before they linked them: litter once the lock is held (a
 * run racing for it right now just tries again), which would keep the state directory from being
 * removed.
 */
async function removeLeftovers(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith(prefix) && name.endsWith('.tmp')) await fsp.rm(path.join(dir, name), { force: true });
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
