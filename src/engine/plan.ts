import { fileDigest } from '../manifest/codec.js';
import { sameMtime, type Entry } from '../manifest/entry.js';
import type { ItemAction } from './events.js';

/**
 * What the receiver must do for one source entry given what the destination holds at that path.
 * Equality of file content is decided by chunk hashes only, never by size and mtime.
 */
export function decide(src: Entry, dst: Entry | undefined): ItemAction | 'none' {
  if (!dst) return 'new';
  if (src.type !== dst.type) return 'changed';
  switch (src.type) {
    case 'file':
      if (!fileDigest(src).equals(fileDigest(dst))) return 'changed';
      return metaDiffers(src, dst) ? 'meta' : 'none';
    case 'symlink':
      return src.target === dst.target ? 'none' : 'changed';
    case 'dir':
      return metaDiffers(src, dst) ? 'meta' : 'none';
  }
}

export function metaDiffers(a: Entry, b: Entry): boolean {
  return a.mode !== b.mode || !sameMtime(a.mtimeNs, b.mtimeNs);
}
