import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';

/**
 * Replace a small file so that readers see the old content or the new, never a torn mix. Not
 * flushed to disk: its users (the stat cache, checksummed; a metrics file) are hints that a crash
 * may leave old or empty, and a flush cost every run a device round trip before it could end.
 */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}
