import { spawn, type ChildProcess } from 'node:child_process';

/** What the helper shell can be asked to do to a directory. */
export type HelperOp = 'sync' | 'chattr';

/**
 * One request a line pair (the operation, then the directory); one answer a line, 0 or 1, in
 * order. `sync -f` flushes the directory's whole filesystem (syncfs); `chattr +T` is explained in
 * receiver/state-dir.ts.
 */
const SCRIPT = `while IFS= read -r op && IFS= read -r dir; do
  case $op in
    sync) sync -f "$dir" ;;
    chattr) chattr +T "$dir" 2>/dev/null ;;
    *) false ;;
  esac && echo 0 || echo 1
done`;

/** A shell idle this long ends (the next request starts another). */
export const HELPER_IDLE_MS = 10_000;

/**
 * A small long-lived shell that runs the few commands Node has no call for. Starting a command
 * from Node forks the whole process: the fork copies its page tables, and afterwards each page
 * the process writes to faults once more. On the agent of a next-day update (130 MB resident)
 * that was 60 ms of its main thread in spawn, and the faults of the run went from 32-34 thousand
 * to 25-27 thousand once the shell was started early. So the shell is started once, by `warm()`
 * while the process is still small, and it forks the commands itself, cheaply.
 * It ends when this process does (its input closes) or after HELPER_IDLE_MS without a request,
 * and is unreferenced while idle so that it never keeps this process alive.
 */
class HelperShell {
  private child: ChildProcess | null = null;
  private readonly waiting: ((ok: boolean) => void)[] = [];
  private output = '';
  private idle: NodeJS.Timeout | null = null;

  warm(): void {
    if (!this.child) this.child = this.start();
    if (!this.waiting.length) this.idleLater();
  }

  /**
   * Run `op` on `dir`: true once it succeeded, false if it failed, could not be asked (a path
   * with a newline does not fit the line protocol) or took longer than `timeoutMs`.
   */
  run(op: HelperOp, dir: string, timeoutMs?: number): Promise<boolean> {
    if (dir.includes('\n')) return Promise.resolve(false);
    if (this.idle) clearTimeout(this.idle);
    const c = (this.child ??= this.start());
    return new Promise((resolve) => {
      if (!c.stdin?.writable) return resolve(false);
      // A late answer still takes its place in the queue; resolving twice does nothing.
      if (timeoutMs !== undefined) setTimeout(() => resolve(false), timeoutMs).unref();
      this.waiting.push(resolve);
      this.refs(c, true);
      c.stdin.write(`${op}\n${dir}\n`);
    });
  }

  private start(): ChildProcess {
    const c = spawn('sh', ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'ignore'] });
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
      this.refs(c, false);
      this.idleLater();
    });
    const gone = () => {
      // No shell (or it died): these requests were not done, and the next one starts a new shell.
      if (this.child !== c) return;
      this.child = null;
      this.output = '';
      for (const w of this.waiting.splice(0)) w(false);
    };
    c.on('error', gone);
    c.on('close', gone);
    c.stdin!.on('error', () => {}); // a dead shell surfaces through 'close'
    this.refs(c, false);
    return c;
  }

  private idleLater(): void {
    const c = this.child;
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      if (this.child !== c || !c) return;
      this.child = null; // the next request starts a new shell, never waits on this ending one
      c.stdin!.end();
    }, HELPER_IDLE_MS).unref();
  }

  /** The shell is referenced only while an answer is awaited. */
  private refs(c: ChildProcess, on: boolean): void {
    for (const h of [c, c.stdin, c.stdout] as { ref?: () => void; unref?: () => void }[]) (on ? h.ref : h.unref)?.call(h);
  }
}

export const helperShell = new HelperShell();
