import { describe, expect, it } from 'vitest';
import { agentEnv, childConnection } from '../../src/transport/child.js';

describe('childConnection (an agent run by node here)', () => {
  it('starts it without NODE_EXTRA_CA_CERTS, which Node would read at every start; the rest of the environment is kept', async () => {
    const before = process.env.NODE_EXTRA_CA_CERTS;
    process.env.NODE_EXTRA_CA_CERTS = '/nonexistent/ca.pem';
    process.env.DSYNC_TEST_KEPT = 'kept';
    try {
      const say = 'require("fs").writeSync(3, JSON.stringify([process.env.NODE_EXTRA_CA_CERTS ?? null, process.env.DSYNC_TEST_KEPT]))';
      const conn = childConnection(process.execPath, ['-e', say, '--'], 'test agent', '', [], true);
      let out = '';
      for await (const d of conn.input) out += d;
      expect(JSON.parse(out)).toEqual([null, 'kept']);
      await conn.close();
    } finally {
      if (before === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
      else process.env.NODE_EXTRA_CA_CERTS = before;
      delete process.env.DSYNC_TEST_KEPT;
    }
    expect(agentEnv({ NODE_EXTRA_CA_CERTS: 'x', PATH: '/bin' })).toEqual({ PATH: '/bin' });
  });
});
