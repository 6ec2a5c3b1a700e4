import { close, closeSync, openSync, read, readSync, write, writeSync } from 'node:fs';
import { promisify } from 'node:util';

/**
 * A bounded set of open file descriptors, least recently used closed first. Synchronous on
 * purpose: the data path does one small read or write per chunk, and a thread-pool round trip
 * for each costs more than the I/O itself when the data is in the page cache.
 */
export class FdCache {
  private readonly fds = new Map<string, number>();

  constructor(
    private readonly flags: number | string,
    private readonly max = 64,
  ) {}

  get(file: string): number {
    let fd = this.fds.get(file);
    if (fd !== undefined) {
      this.fds.delete(file); // re-insert: most recently used last
    } else {
      fd = openSync(file, this.flags);
      if (this.fds.size >= this.max) this.close(this.fds.keys().next().value!);
    }
    this.fds.set(file, fd);
    return fd;
  }

  /** Register a descriptor opened elsewhere (e.g. a file just created). */
  adopt(file: string, fd: number): void {
    this.close(file);
    if (this.fds.size >= this.max) this.close(this.fds.keys().next().value!);
    this.fds.set(file, fd);
  }

  close(file: string): void {
    const fd = this.fds.get(file);
    if (fd === undefined) return;
    this.fds.delete(file);
    closeSync(fd);
  }

  /**
   * Close every descriptor in the thread pool, without waiting. Closing the last descriptor of a
   * file that was replaced meanwhile frees its blocks, which took ext4 50-70 ms for the few old
   * shards of a nightly update: work nobody needs to wait for.
   */
  closeAllLater(): void {
    for (const fd of this.fds.values()) close(fd, () => {});
    this.fds.clear();
  }

  closeAll(): void {
    for (const fd of this.fds.values()) {
      try {
        closeSync(fd);
      } catch {
        // already unusable; nothing to release
      }
    }
    this.fds.clear();
  }
}

/** Read `length` bytes at `position` (fewer only at end of file); returns how many were read. */
export function preadFull(fd: number, buf: Buffer, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Write all of `data` at `position`. */
export function pwriteFull(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

const readAt = promisify(read);
const writeAt = promisify(write);

/** preadFull in the thread pool. */
export async function preadInPool(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await readAt(fd, buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** pwriteFull in the thread pool. */
export async function pwriteInPool(fd: number, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) done += (await writeAt(fd, data, done, data.length - done, position + done)).bytesWritten;
}
