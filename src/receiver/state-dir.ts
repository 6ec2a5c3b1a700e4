import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import path from 'node:path';
import { fsError } from '../errors/dsync-error.js';
import { helperShell } from '../util/helper-shell.js';
import { mkdirIfMissing } from '../util/mkdirp.js';

/**
 * Staged files are spread over this many subdirectories (named by the first hex digit of their
 * name) so that creating them runs in parallel: a filesystem serialises creates in one directory.
 * Sixteen keep the thread pool busy; each directory is an inode allocation, which is slow on a
 * filesystem that just deleted many files, so there are not more.
 */
const SUBDIRS = 16;

/** What each new staging area appends to its subdirectories' names (see spreadSubdirs). */
const SALT = '-[0-9a-f]{8}';
/**
 * A staging subdirectory's name, as a pattern: a hex digit, then the salt (none in staging areas
 * left by versions before it). Readers of staged paths (the journal) check names against it.
 */
export const SUBDIR_NAME = `[0-9a-f](?:${SALT})?`;
const FIRST_SUBDIR = new RegExp(`^0(${SALT})?$`);

/**
 * Ask ext4 to place the subdirectories of `dir` in block groups of their own (the "top directory"
 * flag, chattr +T), best effort. Without it they sit beside the destination's parent, where a tree
 * deleted minutes ago (yesterday's copy, a previous job's data) leaves thousands of free inodes
 * that ext4 without a journal will not hand out again for a minute or more but scans past on
 * every create: measured here, 6000 files took 3.4 s to create after such a delete, 0.2 s with
 * the flag. Other filesystems (or no chattr) simply keep the default placement.
 * ext4 picks such a group from a hash of the subdirectory's name, so the names carry a salt drawn
 * for each new staging area (see subdirSalt): with fixed names, every run's staging went to the
 * same groups, where the previous run's files, deleted after publishing or by the user, had
 * just been freed.
 */
async function spreadSubdirs(dir: string): Promise<void> {
  await helperShell.run('chattr', dir, 2000);
}

/**
 * The receiver's working area for one destination: a hidden sibling `.<name>.dsync/` next to the
 * destination, so it is on the same filesystem (staged files are renamed into place) yet outside
 * the tree that training jobs list. It holds the lock, the staging area and its journal; what an
 * interrupted run staged stays there (files are named by content) for the next run to finish.
 */
export class StateDir {
  readonly staging: string;
  readonly journal: string;
  private salt: string | undefined;

  constructor(readonly dir: string) {
    this.staging = path.join(dir, 'staging');
    this.journal = path.join(dir, 'journal');
  }

  static for(destRoot: string): StateDir {
    const parent = path.dirname(destRoot);
    return new StateDir(path.join(parent, `.${path.basename(destRoot)}.dsync`));
  }

  get lockFile(): string {
    return path.join(this.dir, 'lock');
  }

  /**
   * Make the staging area (under the lock), keeping whatever an interrupted run left in it. The
   * directories are made synchronously (a few hundred microseconds): this runs while the receiver
   * plans, and each thread-pool round trip would wait for the planning to let it go on.
   */
  async create(): Promise<void> {
    try {
      for (const dir of [this.dir, this.staging]) mkdirIfMissing(dir);
      const sub = (i: number) => path.join(this.staging, i.toString(16) + this.subdirSalt());
      if (!existsSync(sub(0))) await spreadSubdirs(this.staging);
      for (let i = 0; i < SUBDIRS; i++) mkdirIfMissing(sub(i));
    } catch (err) {
      throw fsError(err, `cannot create the staging area ${this.dir} (dsync needs a writable parent of the destination)`, 'DEST_NOT_WRITABLE');
    }
  }

  /**
   * A staged file is named by the digest of its content (`copy` tells apart identical files of one
   * run), so a run after an interruption finds its own partial files again.
   */
  stagedPath(digestHex: string, copy = 0): string {
    return path.join(this.staging, digestHex.slice(0, 1) + this.subdirSalt(), copy ? `${digestHex}.${copy}` : digestHex);
  }

  /**
   * The suffix of the staging subdirectories' names (see spreadSubdirs): that of the ones an
   * interrupted run left (none for those of older versions, named by the digit alone), else new.
   */
  private subdirSalt(): string {
    if (this.salt === undefined) {
      let left: string[] = [];
      try {
        left = readdirSync(this.staging);
      } catch {
        // no staging area yet
      }
      const found = left.map((name) => FIRST_SUBDIR.exec(name)).find((m) => m);
      this.salt = found ? (found[1] ?? '') : `-${randomBytes(4).toString('hex')}`;
    }
    return this.salt;
  }

  /** Where a symlink is made before it is renamed into place. */
  linkPath(idx: number): string {
    return path.join(this.staging, `link-${idx}`);
  }

  /**
   * Under the lock, before a run: what abandoned runs staged is kept for a resume only so long.
   * Staged files older than `maxAgeMs` go, then the oldest until at most `maxBytes` remain.
   * Returns what was removed.
   */
  async collectGarbage(maxAgeMs: number, maxBytes: number): Promise<{ files: number; bytes: number }> {
    const staged: { file: string; size: number; mtimeMs: number }[] = [];
    for (const sub of await fsp.readdir(this.staging).catch(() => [] as string[])) {
      const dir = path.join(this.staging, sub);
      for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
        const file = path.join(dir, name);
        const st = await fsp.lstat(file).catch(() => null);
        if (st?.isFile()) staged.push({ file, size: st.size, mtimeMs: st.mtimeMs });
      }
    }
    staged.sort((a, b) => a.mtimeMs - b.mtimeMs);
    let total = staged.reduce((n, f) => n + f.size, 0);
    const removed = { files: 0, bytes: 0 };
    const now = Date.now();
    for (const f of staged) {
      if (now - f.mtimeMs <= maxAgeMs && total <= maxBytes) break;
      await fsp.rm(f.file, { force: true });
      total -= f.size;
      removed.files++;
      removed.bytes += f.size;
    }
    return removed;
  }

  /** After success: staging and journal (under the lock). */
  async removeStaging(): Promise<void> {
    await Promise.all([this.staging, this.journal].map((p) => fsp.rm(p, { recursive: true, force: true })));
    this.salt = undefined; // a staging area made after this gets a new one
  }

  /** Remove the state directory if nothing is left in it (another run may hold a new lock there). */
  async removeIfEmpty(): Promise<void> {
    await fsp.rmdir(this.dir).catch(() => {});
  }
}
