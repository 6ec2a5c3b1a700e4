import { runAgent } from '../engine/agent.js';
import { handleProcessEvents } from './process-handlers.js';

/**
 * `dsync agent`, the far end of a run. The launcher comes here directly, without the CLI's
 * parser, SSH client and display, so the agent starts in half the time (it starts once a run).
 */
export async function agentMain(): Promise<number> {
  let code = 0;
  handleProcessEvents(() => code);
  code = await runAgent(process.stdin, process.stdout);
  // Stop reading stdin so the process can exit once stdout has drained.
  process.stdin.destroy();
  return code;
}
