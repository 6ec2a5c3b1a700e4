import { fileDigest, unhashed } from '../manifest/codec.js';
import { sameMtime, type Entry } from '../manifest/entry.js';
import type { ItemAction } from './events.js';

/**
 * What the receiver must do for one source entry given what the destination holds at that path.
 * Equality of file content is decided by chunk hashes, except for a file the sender announced
 * unread (its first contact with the file, see manifest/scan.ts): that one is taken as unchanged
 * when size and mtime match, as rsync does, and is 'changed' (its list is asked for) otherwise.
 */
export function decide(src: Entry, dst: Entry | undefined): ItemAction | 'none' {
  if (!dst) return 'new';
  if (src.type !== dst.type) return 'changed';
  switch (src.type) {
    case 'file':
      if (unhashed(src) ? src.size !== dst.size || !sameMtime(src.mtimeNs, dst.mtimeNs) : !fileDigest(src).equals(fileDigest(dst))) return 'changed';
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
