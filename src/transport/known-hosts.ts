import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * OpenSSH known_hosts checking: plain and hashed (|1|salt|hmac) host entries, [host]:port for
 * non-standard ports, comma-separated patterns with * ? and ! negation, and @revoked markers
 * (@cert-authority lines are not used: dsync does not do host certificates; use -e ssh for them).
 */
export type HostKeyStatus = 'match' | 'unknown' | 'changed' | 'revoked';

interface KnownEntry {
  marker: string | null;
  patterns: string;
  keyType: string;
  key: Buffer;
}

export function hostKeyName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** SHA256:base64 fingerprint of a public key blob, as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The algorithm name stored at the start of an SSH public key blob. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const n = blob.readUInt32BE(0);
  return n > 64 || 4 + n > blob.length ? '' : blob.toString('latin1', 4, 4 + n);
}

function parse(text: string): KnownEntry[] {
  const out: KnownEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    let marker: string | null = null;
    if (parts[0]!.startsWith('@')) marker = parts.shift()!;
    if (parts.length < 3) continue;
    out.push({ marker, patterns: parts[0]!, keyType: parts[1]!, key: Buffer.from(parts[2]!, 'base64') });
  }
  return out;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

function readAll(files: string[]): KnownEntry[] {
  return files.flatMap((f) => {
    try {
      return parse(readFileSync(f, 'utf8'));
    } catch {
      return [];
    }
  });
}

/** Key types known for `name`, to prefer them in the key exchange like OpenSSH does. */
export function knownKeyTypes(files: string[], name: string): string[] {
  return [...new Set(readAll(files).filter((e) => !e.marker && hostMatches(e.patterns, name)).map((e) => e.keyType))];
}

export function checkHostKey(files: string[], name: string, blob: Buffer): HostKeyStatus {
  const type = keyTypeOf(blob);
  let sameType = false;
  let match = false;
  for (const e of readAll(files)) {
    if (!hostMatches(e.patterns, name) && e.marker !== '@revoked') continue;
    if (e.marker === '@revoked') {
      if (e.key.equals(blob)) return 'revoked';
      continue;
    }
    if (e.marker) continue;
    if (e.keyType === type) {
      if (e.key.equals(blob)) match = true;
      else sameType = true;
    }
  }
  if (match) return 'match';
  return sameType ? 'changed' : 'unknown';
}

export function appendKnownHost(file: string, name: string, blob: Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let sep = '';
  try {
    const old = readFileSync(file);
    if (old.length && old[old.length - 1] !== 0x0a) sep = '\n'; // never glue onto an unterminated line
  } catch {
    // new file
  }
  appendFileSync(file, `${sep}${name} ${keyTypeOf(blob)} ${blob.toString('base64')}\n`, { mode: 0o600 });
}
