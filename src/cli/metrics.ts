import { readFileSync } from 'node:fs';
import type { RunStats } from '../engine/events.js';
import { writeFileAtomic } from '../util/atomic-file.js';

export interface RunOutcome {
  src: string;
  dst: string;
  startedAt: number; // ms since the epoch
  durationMs: number;
  exitCode: number;
  stats: RunStats | null; // null when the run failed before it could report
}

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * --metrics-file: Prometheus text format for the node exporter's textfile collector, replaced
 * atomically after each run. The last success time survives failed runs (it is read back from the
 * previous file), so an alert can fire on "no success for 26 hours".
 */
export function writeMetrics(file: string, o: RunOutcome): Promise<void> {
  const labels = `src="${label(o.src)}",dst="${label(o.dst)}"`;
  const lastSuccess = o.exitCode === 0 ? (o.startedAt + o.durationMs) / 1000 : previousSuccess(file);
  const metric = (name: string, help: string, value: number | null) =>
    value === null ? '' : `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name}{${labels}} ${value}\n`;
  const s = o.stats;
  const text = [
    metric('dsync_last_run_timestamp_seconds', 'When the last run ended.', (o.startedAt + o.durationMs) / 1000),
    metric('dsync_last_success_timestamp_seconds', 'When the last successful run ended.', lastSuccess),
    metric('dsync_last_run_duration_seconds', 'Duration of the last run.', o.durationMs / 1000),
    metric('dsync_last_run_exit_code', 'Exit code of the last run (0 is success).', o.exitCode),
    metric('dsync_last_run_success', '1 if the last run succeeded.', o.exitCode === 0 ? 1 : 0),
    metric('dsync_last_run_files_changed', 'Files created, updated or deleted by the last run.', s ? s.created + s.changed + s.deleted : null),
    metric('dsync_last_run_bytes_sent', 'Chunk bytes the last run had to transfer.', s ? s.bytesSent : null),
    metric('dsync_last_run_wire_bytes', 'Encoded chunk bytes the last run put on the wire.', s ? s.wireBytes : null),
  ].join('');
  return writeFileAtomic(file, Buffer.from(text));
}

function previousSuccess(file: string): number | null {
  try {
    const m = /^dsync_last_success_timestamp_seconds\{[^}]*\} ([0-9.e+]+)$/m.exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
