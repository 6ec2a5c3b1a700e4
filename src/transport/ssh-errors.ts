import { DsyncError } from '../errors/dsync-error.js';

/** Messages and codes for SSH failures, shared by the ssh2 and the system-ssh transports. */
export const sshFailure = {
  refused: (where: string) => new DsyncError('CONN_REFUSED', `connection to ${where} refused: is sshd running there and is the port right?`),
  unreachable: (where: string, why: string) => new DsyncError('CONN_REFUSED', `cannot reach ${where}: ${why}`),
  notFound: (host: string) => new DsyncError('HOST_NOT_FOUND', `cannot resolve host name ${host}: check the name or its HostName in your ssh config`),
  timeout: (where: string, secs: number) => new DsyncError('TIMEOUT', `timed out connecting to ${where} after ${secs} s`),
  auth: (who: string, detail: string) => new DsyncError('AUTH', `authentication as ${who} failed${detail ? ` (${detail})` : ''}: check that your key is in the remote authorized_keys and loaded (ssh-add) or listed as IdentityFile`),
  hostKeyUnknown: (name: string, fp: string, files: string) =>
    new DsyncError('HOSTKEY_UNKNOWN', `host key of ${name} is not known (${fp}); verify the fingerprint, then run again with --accept-new-host-key to add it to ${files}`),
  hostKeyChanged: (name: string, fp: string, files: string) =>
    new DsyncError('HOSTKEY_CHANGED', `host key of ${name} has CHANGED (now ${fp}); this may be an attack. If the host was reinstalled, remove its old entry from ${files} (ssh-keygen -R '${name}')`),
};

/** Classify the stderr of a failed `ssh` client run (exit 255) the way ssh2 errors are classified. */
export function classifySshStderr(stderr: string, host: string): DsyncError | null {
  if (/Connection refused/i.test(stderr)) return sshFailure.refused(host);
  if (/Could not resolve hostname|Name or service not known|Temporary failure in name resolution/i.test(stderr)) return sshFailure.notFound(host);
  if (/timed out/i.test(stderr)) return sshFailure.timeout(host, 0);
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(stderr)) return new DsyncError('HOSTKEY_CHANGED', `host key of ${host} has changed: ${lastLine(stderr)}`);
  if (/Host key verification failed|No .* host key is known/i.test(stderr)) return new DsyncError('HOSTKEY_UNKNOWN', `host key of ${host} could not be verified: ${lastLine(stderr)}`);
  if (/Permission denied|Too many authentication failures/i.test(stderr)) return sshFailure.auth(host, lastLine(stderr));
  if (/No route to host|Network is unreachable/i.test(stderr)) return sshFailure.unreachable(host, lastLine(stderr));
  return null;
}

function lastLine(s: string): string {
  return s.trim().split('\n').filter(Boolean).slice(-1)[0] ?? '';
}
