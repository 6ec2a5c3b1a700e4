import { DsyncError } from '../errors/dsync-error.js';

/**
 * What the agent writes before its first frame. The remote shell's startup files may print text
 * (a greeting, a `conda activate` notice) on the channel before the agent starts; rsync then fails
 * with "is your shell clean?". The client skips everything up to this mark instead. NUL bytes
 * keep it out of any text a shell prints.
 */
export const AGENT_MARK = Buffer.from('\0dsync-agent\0');

/** Bytes of text the client skips at most before the mark: a greeting, not a stream of output. */
export const MAX_BANNER = 64 * 1024;

/**
 * Sans-IO: the bytes of the agent's output from its start; `push` returns what follows the mark
 * once it has come (the start of the frames, maybe empty), null until then.
 */
export class BannerSkipper {
  private seen: Buffer = Buffer.alloc(0);
  done = false;

  constructor(private readonly label: string) {}

  push(chunk: Buffer): Buffer | null {
    if (this.done) return chunk;
    this.seen = this.seen.length ? Buffer.concat([this.seen, chunk]) : chunk;
    const at = this.seen.indexOf(AGENT_MARK);
    if (at >= 0) {
      this.done = true;
      const rest = this.seen.subarray(at + AGENT_MARK.length);
      this.seen = Buffer.alloc(0);
      return rest;
    }
    // Only the last bytes could begin a mark that the next chunk completes.
    if (this.seen.length - AGENT_MARK.length + 1 > MAX_BANNER) {
      throw new DsyncError('PROTOCOL', `${this.label} printed more than ${MAX_BANNER / 1024} KiB instead of starting dsync's agent, beginning ${JSON.stringify(this.firstLine())}: check what the remote shell's startup files (~/.bashrc) or --remote-cmd print`);
    }
    return null;
  }

  /** The first line of what came before the mark, for a message. */
  firstLine(): string {
    return this.seen.subarray(0, 200).toString('utf8').split(/\r?\n/)[0]!.slice(0, 80);
  }
}
