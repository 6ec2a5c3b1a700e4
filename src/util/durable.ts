import { spawn, type ChildProcess } from 'node:child_process';
import { constants, promises as fsp } from 'node:fs';

/**
 * Flush the whole filesystem that holds `dir` (`sync -f`, i.e. syncfs): one call instead of an
 * fsync per file, which matters with thousands of small files. False if it could not be done.
 */
export function syncFilesystem(dir: string): Promise<boolean> {
  let f = flushers.get(dir);
  if (!f) flushers.set(dir, (f = new Flusher(dir)));
  return f.flush();
}

const flushers = new Map<string, Flusher>();
/** A shell idle this long ends (one more run in the same process starts another). */
export const FLUSHER_IDLE_MS = 10_000;

/**
 * Runs `sync -f DIR` on request in one long-lived shell. Spawning `sync` from Node forks this
 * whole process each time: 5-10 ms of the main thread, about 17 times in a large push. The
 * shell is small and forks cheaply. It ends when this process does (its input closes) or after
 * FLUSHER_IDLE_MS without a request, and is unreferenced while idle so that it never keeps this
 * process alive.
 */
class Flusher {
  private child: ChildProcess | null = null;
  private readonly waiting: ((ok: boolean) => void)[] = [];
  private output = '';
  private idle: NodeJS.Timeout | null = null;

  constructor(private readonly dir: string) {}

  flush(): Promise<boolean> {
    if (this.idle) clearTimeout(this.idle);
    const c = (this.child ??= this.start());
    return new Promise((resolve) => {
      if (!c.stdin?.writable) return resolve(false);
      this.waiting.push(resolve);
      this.busy(true);
      c.stdin.write('\n');
    });
  }

  private start(): ChildProcess {
    const script = 'while read -r _; do if sync -f "$1"; then echo 0; else echo 1; fi; done';
    const c = spawn('sh', ['-c', script, 'sh', this.dir], { stdio: ['pipe', 'pipe', 'ignore'] });
    c.stdout!.setEncoding('utf8');
    c.stdout!.on('data', (d: string) => {
      this.output += d;
      let nl: number;
      while ((nl = this.output.indexOf('\n')) >= 0) {
        const ok = this.output.slice(0, nl) === '0';
        this.output = this.output.slice(nl + 1);
        this.waiting.shift()?.(ok);
      }
      if (this.waiting.length) return;
      this.busy(false);
      this.idle = setTimeout(() => {
        this.child = null; // the next flush starts a new shell, never waits on this ending one
        c.stdin!.end();
      }, FLUSHER_IDLE_MS).unref();
    });
    const gone = () => {
      // No shell (or it died): these flushes did not happen, and the next one starts a new shell.
      if (this.child !== c) return;
      this.child = null;
      this.output = '';
      for (const w of this.waiting.splice(0)) w(false);
    };
    c.on('error', gone);
    c.on('close', gone);
    c.stdin!.on('error', () => {}); // a dead shell surfaces through 'close'
    return c;
  }

  /** Referenced only while a flush is awaited. */
  private busy(on: boolean): void {
    const c = this.child;
    if (!c) return;
    for (const h of [c, c.stdin, c.stdout] as { ref?: () => void; unref?: () => void }[]) (on ? h.ref : h.unref)?.call(h);
  }
}

/** Make files durable one by one (the fallback when syncFilesystem is not available). */
export async function fsyncFiles(files: string[]): Promise<void> {
  for (const f of files) {
    const fh = await fsp.open(f, constants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

/** Written bytes between background flushes (see EarlyFlush). */
const FLUSH_EVERY = 64 * 1024 * 1024;

/**
 * Flushes the filesystem of `dir` in the background each time another FLUSH_EVERY bytes were
 * written, so that the flush which must come before publishing finds little left to write: the
 * disk works while the transfer goes on instead of after it.
 */
export class EarlyFlush {
  private written = 0;
  private flushedAt = 0;
  private running: Promise<unknown> | null = null;

  constructor(private readonly dir: string) {}

  wrote(bytes: number): void {
    this.written += bytes;
    if (this.running || this.written - this.flushedAt < FLUSH_EVERY) return;
    this.flushedAt = this.written;
    this.running = syncFilesystem(this.dir).finally(() => {
      this.running = null;
    });
  }

  /** The background flush under way, if any, has finished. */
  async settle(): Promise<void> {
    await this.running;
  }
}
