import type { HostSample } from '../core/decision.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { Removal } from './removals.ts';
import type { StatusReport } from './status.ts';

/**
 * Something that tells the world what the daemon does: InfluxDB, Prometheus, the status
 * endpoint. The loop calls it after every iteration and every removal and never waits on it:
 * an implementation must return at once and do its I/O in the background, bounded in memory.
 */
export interface Reporter {
  /** After each iteration (also while the engine is unreachable, with state `waiting`). */
  iteration(report: StatusReport, sample: HostSample | undefined): void;
  /** For every pilot removed, with its reason, exit code and uptime. */
  removal(removal: Removal): void;
  /** After a successful configuration reload, with the new configuration. */
  configure?(config: LoadedConfig): void;
  /** Flushes what it can within a short time and releases its resources. */
  close(): Promise<void>;
}
