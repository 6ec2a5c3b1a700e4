import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fsError } from '../errors/dsync-error.js';
import { mkdirp } from '../util/mkdirp.js';

const STAGING_FANOUT = 64;

/**
 * The receiver's working area for one destination: a hidden sibling `.<name>.dsync/` next to the
 * destination, so it is on the same filesystem (staged files are renamed into place) yet outside
 * the tree that training jobs list. It holds the lock, the staging area and its journal, and the
 * staging area and journal of an interrupted run (`*.prev`) until a run succeeds.
 */
export class StateDir {
  readonly staging: string;
  readonly journal: string;
  readonly prevStaging: string;
  readonly prevJournal: string;

  constructor(readonly dir: string) {
    this.staging = path.join(dir, 'staging');
    this.journal = path.join(dir, 'journal');
    this.prevStaging = path.join(dir, 'staging.prev');
    this.prevJournal = path.join(dir, 'journal.prev');
  }

  static for(destRoot: string): StateDir {
    const parent = path.dirname(destRoot);
    return new StateDir(path.join(parent, `.${path.basename(destRoot)}.dsync`));
  }

  get lockFile(): string {
    return path.join(this.dir, 'lock');
  }

  /**
   * Make a fresh staging area (under the lock). What an interrupted run left is moved aside, so its
   * journaled chunks can be reused and are never overwritten by this run's staged files.
   */
  async create(): Promise<void> {
    try {
      if (await exists(this.staging)) {
        await fsp.rm(this.prevStaging, { recursive: true, force: true });
        await fsp.rm(this.prevJournal, { force: true });
        await fsp.rename(this.staging, this.prevStaging);
        await fsp.rename(this.journal, this.prevJournal).catch(() => {});
      }
      await fsp.rm(this.journal, { force: true });
      await mkdirp(this.staging, 0o700);
      for (let i = 0; i < STAGING_FANOUT; i++) await fsp.mkdir(path.join(this.staging, String(i)), { mode: 0o700 });
    } catch (err) {
      throw fsError(err, `cannot create the staging area ${this.dir} (dsync needs a writable parent of the destination)`, 'DEST_NOT_WRITABLE');
    }
  }

  /** Staged files are spread over subdirectories so that creating them can run in parallel. */
  stagedPath(idx: number): string {
    return path.join(this.staging, String(idx % STAGING_FANOUT), `f${idx}`);
  }

  /** After success: staging, journal and anything an interrupted run left (under the lock). */
  async removeStaging(): Promise<void> {
    for (const p of [this.staging, this.prevStaging, this.journal, this.prevJournal]) await fsp.rm(p, { recursive: true, force: true });
  }

  /** Remove the state directory if nothing is left in it (another run may hold a new lock there). */
  async removeIfEmpty(): Promise<void> {
    await fsp.rmdir(this.dir).catch(() => {});
  }
}

async function exists(p: string): Promise<boolean> {
  return fsp.access(p).then(
    () => true,
    () => false,
  );
}
