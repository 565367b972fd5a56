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
/** `mem_floor`: bytes as they are, "N%" of the host's memory. */
export function bytesOrPercent(v: number | string, total: number): number {
  return typeof v === 'number' ? v : Math.floor((Number.parseFloat(v) / 100) * total);
}

/**
 * @param cpuPolicy - overrides `cpu_policy`: the shell falls back to `total` (the kill-based rule)
 *   when the idle-priority cgroup could not be set up.
 */
export function resolvePolicy(config: LoadedConfig, host: HostSample, cpuPolicy?: 'owner' | 'total'): ResolvedPolicy {
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
      cpuPolicy: cpuPolicy ?? (s.cpu_policy === 'total' ? 'total' : 'owner'),
      overloadHysteresisPct: s.overload_hysteresis,
      pauseMaxMs: s.pause_max * 1000,
      memFloorBytes: bytesOrPercent(s.mem_floor, host.memory.totalBytes),
      psiMemoryPct: s.psi_memory,
      memoryStopTimeoutSec: s.memory_stop_timeout,
      stopTimeoutSec: s.stop_timeout,
      stopSignal: s.stop_signal,
      stopCommand: config.stopCommand,
      backoffBaseMs: s.backoff_base * 1000,
      backoffMaxMs: s.backoff_max * 1000,
      noWorkUptimeMs: s.no_work_uptime * 1000,
      scheduleVacate: s.schedule_vacate,
    },
    maxDocksError,
  };
}
