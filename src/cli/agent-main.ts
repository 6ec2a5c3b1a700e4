import { fstatSync } from 'node:fs';
import net from 'node:net';
import { EXIT } from '../errors/exit-codes.js';
import { runAgent } from '../engine/agent.js';
import { handleProcessEvents } from './process-handlers.js';

/**
 * `dsync agent`, the far end of a run. The launcher comes here directly, without the CLI's
 * parser, SSH client and display, so the agent starts in half the time (it starts once a run).
 */
export async function agentMain(): Promise<number> {
  let code = 0;
  const output = protocolOutput(process.argv);
  if (!output) {
    process.stderr.write('dsync: error: --protocol-fd takes 3, a pipe the client opened\n');
    return EXIT.USAGE;
  }
  handleProcessEvents(() => code, output);
  code = await runAgent(process.stdin, output);
  // Stop reading stdin so the process can exit once its output has drained.
  process.stdin.destroy();
  return code;
}

/**
 * Where the agent answers: stdout, or descriptor 3, a pipe a local client opened for it
 * (`--protocol-fd 3`, see transport/child.ts) that nothing but the protocol writes to. Only 3: the
 * descriptors above it are Node's own.
 */
function protocolOutput(argv: string[]): NodeJS.WritableStream | null {
  const at = argv.indexOf('--protocol-fd');
  if (at < 0) return process.stdout;
  if (argv[at + 1] !== '3') return null;
  try {
    const st = fstatSync(3);
    if (!st.isFIFO() && !st.isSocket()) return null;
  } catch {
    return null; // not open
  }
  return new net.Socket({ fd: 3, readable: false, writable: true });
}
