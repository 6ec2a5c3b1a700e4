import type { Reporter, RunStats } from '../engine/events.js';
import type { DsyncError } from '../errors/dsync-error.js';

export interface RunInfo {
  command: string;
  src: string;
  dst: string;
  dryRun: boolean;
}

/** A Reporter that also frames the run for the person, script or CI job that started it. */
export interface CliReporter extends Reporter {
  start(info: RunInfo): void;
  summary(stats: RunStats, exitCode: number): void;
  error(e: DsyncError): void;
}
