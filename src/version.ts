import { existsSync, readFileSync } from 'node:fs';

/** dsync's own version, from package.json (two levels up when built into dist/, one from sources). */
const pkg = ['../../package.json', '../package.json'].map((p) => new URL(p, import.meta.url)).find((u) => existsSync(u))!;
export const VERSION: string = JSON.parse(readFileSync(pkg, 'utf8')).version;
