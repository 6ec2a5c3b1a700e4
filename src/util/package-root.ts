import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory of dsync's package.json, wherever this module runs from: src/util/ (sources),
 * dist/src/util/ (compiled) or dist/bundle/ (bundled, see src/build/bundle.ts).
 */
export const PACKAGE_ROOT = ['../..', '../../..'].map((up) => fileURLToPath(new URL(`${up}/`, import.meta.url))).find((dir) => existsSync(path.join(dir, 'package.json')))!;
