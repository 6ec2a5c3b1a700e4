import { EXIT } from '../errors/exit-codes.js';

/**
 * What every dsync process does about signals and a closed stdout: SIGINT/SIGTERM end it with
 * exit code 20, and a closed stdout (`dsync ... | head`) ends it quietly, as for any Unix tool.
 * An agent's `output` is where it speaks the protocol: closed, its client is gone.
 */
export function handleProcessEvents(code: () => number, output: NodeJS.WritableStream = process.stdout): void {
  const onSignal = () => {
    process.stderr.write('dsync: interrupted\n');
    process.exit(EXIT.INTERRUPTED);
  };
  output.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(code());
  });
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
