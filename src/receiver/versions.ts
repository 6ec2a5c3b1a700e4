import { existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, utimesSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { DsyncError, fsError } from '../errors/dsync-error.js';
import { syncFilesystem } from '../util/durable.js';

const ID = /^\d{8}T\d{6}\.\d{3}Z(-\d+)?$/;
const YIELD_EVERY = 256; // filesystem calls between turns of the event loop while cloning

/**
 * `--atomic`: DST is a symlink to `DST.versions/<id>`. A run builds the next version beside the
 * current one (unchanged files hard-linked from it, so they cost no space), and only when all of
 * it is in place and flushed does one rename of a new symlink over DST switch readers to it. A
 * reader that resolves DST once sees the old version or the new one, never a mix.
 */
export class Versions {
  private constructor(
    readonly link: string, // DST
    readonly dir: string, // DST.versions
    readonly current: string | null, // the version DST points to now
    readonly next: string, // the version this run builds
  ) {}

  static async open(dst: string): Promise<Versions> {
    const dir = `${dst}.versions`;
    let current: string | null = null;
    let st: import('node:fs').Stats | null = null;
    try {
      st = await fsp.lstat(dst);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, `cannot access destination ${dst}`, 'DEST_NOT_WRITABLE');
    }
    if (st?.isSymbolicLink()) {
      const target = await fsp.readlink(dst);
      const id = path.basename(target);
      if (path.dirname(target) !== path.basename(dir) || !ID.test(id)) {
        throw new DsyncError('USAGE', `${dst} is a symlink to ${target}, not to a version in ${dir}; --atomic manages DST itself (choose another destination)`);
      }
      current = path.join(dir, id);
    } else if (st) {
      throw new DsyncError('USAGE', `${dst} is not a symlink made by --atomic; keep it out of the way (e.g. mv ${dst} ${dst}.old) or sync without --atomic`);
    }
    let id = new Date().toISOString().replace(/[-:]/g, '');
    const base = id;
    for (let n = 1; existsSync(path.join(dir, id)); n++) id = `${base}-${n}`;
    return new Versions(dst, dir, current, path.join(dir, id));
  }

  /** Make the next version a copy of the current one made of hard links (the first: made by publish). */
  async prepare(): Promise<void> {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o755 });
      // Versions newer than the one DST names were never switched to: builds of runs that died.
      const live = this.current ? path.basename(this.current) : '';
      for (const n of readdirSync(this.dir)) {
        if (ID.test(n) && n > live && path.join(this.dir, n) !== this.next) await fsp.rm(path.join(this.dir, n), { recursive: true, force: true });
      }
      if (this.current) await cloneTree(this.current, this.next);
    } catch (err) {
      throw fsError(err, `cannot prepare the next version in ${this.dir}`, 'DEST_NOT_WRITABLE');
    }
  }

  /** Point DST at the next version with one rename, and make that rename durable. */
  async switchTo(): Promise<void> {
    const tmp = `${this.link}.dsync-switch`;
    try {
      await fsp.rm(tmp, { force: true });
      await fsp.symlink(path.join(path.basename(this.dir), path.basename(this.next)), tmp);
      await fsp.rename(tmp, this.link);
      await syncFilesystem(path.dirname(this.link));
    } catch (err) {
      throw fsError(err, `cannot switch ${this.link} to the new version`, 'DEST_NOT_WRITABLE');
    }
  }

  /** Delete versions older than the `keep` most recent previous ones; returns their paths. */
  async prune(keep: number): Promise<string[]> {
    const ids = readdirSync(this.dir).filter((n) => ID.test(n)).sort();
    const live = path.basename(this.next);
    const older = ids.filter((n) => n < live);
    const doomed = older.slice(0, Math.max(0, older.length - keep)).map((n) => path.join(this.dir, n));
    for (const d of doomed) await fsp.rm(d, { recursive: true, force: true });
    return doomed;
  }

  /** After a failure before the switch: the half-built version goes (DST still names the old one). */
  async discard(): Promise<void> {
    await fsp.rm(this.next, { recursive: true, force: true });
  }
}

/** `cp -al`: directories made anew (with their times), files hard-linked, symlinks re-made. */
async function cloneTree(from: string, to: string): Promise<void> {
  let ops = 0;
  const dirs: [import('node:fs').Stats, string][] = [];
  const walk = async (src: string, dst: string) => {
    const st = lstatSync(src);
    mkdirSync(dst, { mode: st.mode & 0o7777 });
    dirs.push([st, dst]);
    for (const ent of readdirSync(src, { withFileTypes: true })) {
      const s = path.join(src, ent.name);
      const d = path.join(dst, ent.name);
      if (ent.isDirectory()) await walk(s, d);
      else if (ent.isFile()) linkSync(s, d);
      else if (ent.isSymbolicLink()) symlinkSync(readlinkSync(s), d);
      if (++ops % YIELD_EVERY === 0) await yieldToLoop();
    }
  };
  await walk(from, to);
  // Times last, deepest first: filling a directory moved its mtime.
  for (const [st, dst] of dirs.reverse()) utimesSync(dst, st.atime, st.mtime);
}
