import { fileDigest, unhashed } from './codec.js';
import type { Entry } from './entry.js';

/**
 * A tree's files by content, to find where a file's content already is (a file moved or copied
 * at the source). Only files with a chunk list and a stat identity count. Indexed by size at the
 * first lookup, and only the files of a looked-up size have their digests compared: hashing the
 * chunk list of every file would cost an update more than its moves save.
 */
export class ContentIndex {
  private bySize: Map<number, Entry[]> | null = null;

  constructor(private readonly files: () => Iterable<Entry>) {}

  /**
   * The files with the content of `e` (same size and file digest); none while the content of `e`
   * is not known (a file announced unread, whose chunk list is still to come).
   */
  find(e: Entry): Entry[] {
    if (unhashed(e)) return [];
    if (!this.bySize) {
      this.bySize = new Map();
      for (const d of this.files()) {
        if (d.type !== 'file' || !d.stat || !d.chunks) continue;
        const same = this.bySize.get(d.size);
        if (same) same.push(d);
        else this.bySize.set(d.size, [d]);
      }
    }
    const same = this.bySize.get(e.size);
    if (!same) return [];
    const digest = fileDigest(e);
    return same.filter((d) => fileDigest(d).equals(digest));
  }
}
