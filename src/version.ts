import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from './util/package-root.js';

/** dsync's own version, from its package.json. */
export const VERSION: string = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;
