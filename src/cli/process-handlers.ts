import { EXIT } from '../errors/exit-codes.js';

/**
 * What every dsync process does about signals and a closed stdout: SIGINT/SIGTERM end it with
 * exit code 20, and a closed stdout (`dsync ... | head`) ends it quietly, as for any Unix tool.
 */
export function handleProcessEvents(code: () => number): void {
  const onSignal = () => {
    process.stderr.write('dsync: interrupted\n');
    process.exit(EXIT.INTERRUPTED);
  };
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(code());
  });
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
