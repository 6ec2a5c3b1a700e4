import { describe, expect, it } from 'vitest';
import { DsyncError } from '../../src/errors/dsync-error.js';
import { explainEnd, REMOTE_HINT } from '../../src/transport/agent-start.js';

describe('explainEnd: why the agent behind a stream failed', () => {
  const lost = new DsyncError('CONN_LOST', 'connection to lab closed');
  const end = { where: 'lab', hint: REMOTE_HINT, status: null, stderrTail: '' };

  it('dsync missing there: exit status 127 or "command not found" is exit 5, with the hint', () => {
    for (const e of [explainEnd(lost, { ...end, status: 127 }), explainEnd(lost, { ...end, stderrTail: 'bash: dsync: command not found' })]) {
      expect(e.code).toBe('REMOTE_MISSING');
      expect(e.message).toMatch(/^dsync could not be started on lab.*; install dsync there/);
    }
  });

  it('a command that ended before the agent mark: what it printed and its status', () => {
    const e = explainEnd(lost, { ...end, status: 0, printed: 'Welcome to the lab' });
    expect(e.code).toBe('REMOTE_MISSING');
    expect(e.message).toContain('(it printed "Welcome to the lab", exit status 0)');
    // No status came back (the connection dropped): still a lost connection, retried.
    expect(explainEnd(lost, { ...end, printed: 'Welcome' }).code).toBe('CONN_LOST');
  });

  it('otherwise the failure keeps its code, with the command\'s last words; other errors pass through', () => {
    expect(explainEnd(lost, { ...end, stderrTail: 'killed' }).message).toBe('connection to lab closed: killed');
    expect(explainEnd(lost, end)).toBe(lost);
    const usage = new DsyncError('USAGE', 'bad');
    expect(explainEnd(usage, { ...end, status: 127 })).toBe(usage);
  });
});
