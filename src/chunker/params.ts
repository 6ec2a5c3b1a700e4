import { DsyncError } from '../errors/dsync-error.js';

/** Chunk size bounds in bytes. Both sides must chunk with the same parameters to share chunks. */
export interface ChunkParams {
  min: number;
  avg: number;
  max: number;
}

export const DEFAULT_PARAMS: ChunkParams = { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };

/** Hard bounds, also applied to parameters announced by the other side. */
export const LIMITS = { minMin: 64, maxMax: 64 * 1024 * 1024 };

export function validateParams(p: ChunkParams): ChunkParams {
  const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  if (!pow2(p.avg) || p.avg < 256) {
    throw new DsyncError('USAGE', `chunk average size must be a power of two >= 256, got ${p.avg}`);
  }
  if (!(Number.isInteger(p.min) && Number.isInteger(p.max) && LIMITS.minMin <= p.min && p.min < p.avg && p.avg < p.max && p.max <= LIMITS.maxMax)) {
    throw new DsyncError('USAGE', `chunk sizes must satisfy ${LIMITS.minMin} <= min < avg < max <= ${LIMITS.maxMax}, got ${p.min}/${p.avg}/${p.max}`);
  }
  return p;
}

export function paramsEqual(a: ChunkParams, b: ChunkParams): boolean {
  return a.min === b.min && a.avg === b.avg && a.max === b.max;
}
