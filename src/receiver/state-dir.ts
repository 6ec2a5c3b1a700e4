import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fsError } from '../errors/dsync-error.js';
import { mkdirp } from '../util/mkdirp.js';

/**
 * The receiver's working area for one destination: a hidden sibling `.<name>.dsync/` next to the
 * destination, so it is on the same filesystem (staged files are renamed into place) yet outside
 * the tree that training jobs list. It is removed after a successful run.
 */
const STAGING_FANOUT = 64;

export class StateDir {
  readonly staging: string;

  constructor(readonly dir: string) {
    this.staging = path.join(dir, 'staging');
  }

  static for(destRoot: string): StateDir {
    const parent = path.dirname(destRoot);
    return new StateDir(path.join(parent, `.${path.basename(destRoot)}.dsync`));
  }

  async create(): Promise<void> {
    try {
      await mkdirp(this.staging, 0o700);
      for (let i = 0; i < STAGING_FANOUT; i++) await fsp.mkdir(path.join(this.staging, String(i)), { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    } catch (err) {
      throw fsError(err, `cannot create the staging area ${this.dir} (dsync needs a writable parent of the destination)`, 'DEST_NOT_WRITABLE');
    }
  }

  /** Staged files are spread over subdirectories so that creating them can run in parallel. */
  stagedPath(idx: number): string {
    return path.join(this.staging, String(idx % STAGING_FANOUT), `f${idx}`);
  }

  get lockFile(): string {
    return path.join(this.dir, 'lock');
  }

  /** Remove the staging area (under the lock); the directory itself goes once the lock is released. */
  async removeStaging(): Promise<void> {
    await fsp.rm(this.staging, { recursive: true, force: true });
  }

  /** Remove the state directory if nothing is left in it (another run may hold a new lock there). */
  async removeIfEmpty(): Promise<void> {
    await fsp.rmdir(this.dir).catch(() => {});
  }
}
