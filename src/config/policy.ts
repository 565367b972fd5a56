import type { HostSample, Policy } from '../core/types.ts';
import type { LoadedConfig } from './load.ts';

/** 0.6 filled 95% of the idle CPU. */
export const FILL_FACTOR = 0.95;

export interface ResolvedPolicy {
  readonly policy: Policy;
  /** Set when `max_docks` could not be evaluated on this host: the policy then uses 0, as 0.6 did. */
  readonly maxDocksError?: string | undefined;
}

/** The policy numbers for this host: `max_docks` evaluated over the host's facts, seconds to milliseconds. */
export function resolvePolicy(config: LoadedConfig, host: HostSample): ResolvedPolicy {
  const s = config.settings;
  let maxDocks = 0;
  let maxDocksError: string | undefined;
  try {
    const v = config.maxDocks.evaluate({
      ncpus: host.ncpus,
      ram_bytes: host.memory.totalBytes,
      swap_bytes: host.memory.swapTotalBytes,
      max_dock_mem: s.max_dock_mem,
      max_dock_swap: s.max_dock_swap,
    });
    maxDocks = Math.max(0, Math.floor(v));
  } catch (err) {
    maxDocksError = `max_docks "${String(s.max_docks)}": ${(err as Error).message}`;
  }
  return {
    policy: {
      maxDocks,
      docksPerLoop: s.docks_per_loop,
      cpusPerDock: s.cpus_per_dock,
      graceKillMs: s.grace_kill * 1000,
      graceSpawnMs: s.grace_spawn * 1000,
      maxTtlMs: s.max_ttl * 1000,
      overloadMarginPct: s.overload_margin,
      fillFactor: FILL_FACTOR,
      imageExpirationMs: s.image_expiration * 1000,
      pullRetryMs: s.pull_retry * 1000,
    },
    maxDocksError,
  };
}
