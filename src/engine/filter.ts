import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type Picomatch from 'picomatch';
import { DsyncError } from '../errors/dsync-error.js';

// Loaded with the first rule: most runs have none, and loading it costs both sides ~13 ms of start-up.
const require = createRequire(import.meta.url);
let picomatch: typeof Picomatch | undefined;

/**
 * Filter rules, rsync style: "- PATTERN" excludes, "+ PATTERN" includes, the first rule that
 * matches a path decides, and a path no rule matches is included. An excluded directory is not
 * entered. Patterns are globs (picomatch): one without a slash matches a name at any depth, one
 * with a slash matches the whole relative path (a leading slash anchors it to the root), and a
 * trailing slash matches directories only. Excluded paths are neither sent nor deleted.
 */
export type Exclude = (rel: string, isDir: boolean) => boolean;

interface Rule {
  include: boolean;
  dirOnly: boolean;
  match: (s: string) => boolean;
  onName: boolean;
}

export function parseRule(rule: string): Rule {
  const m = /^([+-]) (.+)$/.exec(rule);
  if (!m) throw new DsyncError('USAGE', `bad filter rule ${JSON.stringify(rule)}`);
  let pat = m[2]!;
  const dirOnly = pat.endsWith('/');
  if (dirOnly) pat = pat.slice(0, -1);
  const anchored = pat.startsWith('/');
  if (anchored) pat = pat.slice(1);
  const onName = !anchored && !pat.includes('/');
  picomatch ??= require('picomatch') as typeof Picomatch;
  return { include: m[1] === '+', dirOnly, onName, match: picomatch(pat, { dot: true }) };
}

export function compileFilters(rules: string[]): Exclude | undefined {
  if (rules.length === 0) return undefined;
  const parsed = rules.map(parseRule);
  return (rel, isDir) => {
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    for (const r of parsed) {
      if (r.dirOnly && !isDir) continue;
      if (r.match(r.onName ? name : rel)) return !r.include;
    }
    return false;
  };
}

export const IGNORE_FILE = '.dsyncignore';

/**
 * Rules from a pattern file: one pattern a line, excluded; `!pattern` includes; blank lines and
 * `#` comments are skipped (the format of --exclude-from and of .dsyncignore).
 */
export function rulesFromText(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => (l.startsWith('!') ? `+ ${l.slice(1)}` : `- ${l}`));
}

export function rulesFromFile(file: string): string[] {
  try {
    return rulesFromText(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DsyncError('USAGE', `cannot read filter file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** The .dsyncignore rules at the root of a source directory (none if there is no such file). */
export function ignoreRules(root: string): string[] {
  const file = path.join(root, IGNORE_FILE);
  try {
    return rulesFromText(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
}
