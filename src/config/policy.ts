import type { HostSample, Policy, PoolPolicy } from '../core/decision.ts';
import type { CompiledExpression } from './expression/expression.ts';
import type { LoadedConfig } from './load.ts';
import { maxDocksValues } from './expression/max-docks.ts';
import type { Settings } from './schema/keys.ts';

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
  const errors: string[] = [];
  // without `pools` the one pool is the top level: its max_docks error is named as the top level's
  const named = s.pools.length > 0;
  const pools = config.pools.map((pool): PoolPolicy => {
    const max = evaluateMaxDocks(pool.maxDocks, pool.settings, host);
    if (max.error) errors.push(named ? `pool ${pool.name}: ${max.error}` : max.error);
    const values = poolValues(pool.settings, pool.stopCommand);
    return {
      name: pool.name,
      share: pool.share,
      shape: pool.pilot,
      configHash: pool.hash,
      ...values,
      maxDocks: max.value,
    };
  });
  return {
    policy: {
      docksPerLoop: s.docks_per_loop,
      graceKillMs: s.grace_kill * 1000,
      graceSpawnMs: s.grace_spawn * 1000,
      overloadMarginPct: s.overload_margin,
      fillFactor: FILL_FACTOR,
      imageExpirationMs: s.image_expiration * 1000,
      pullRetryMs: s.pull_retry * 1000,
      cpuPolicy: cpuPolicy ?? (s.cpu_policy === 'total' ? 'total' : 'owner'),
      overloadHysteresisPct: s.overload_hysteresis,
      pauseMaxMs: s.pause_max * 1000,
      cpuPace: s.cpu_pace === 'one' ? 'one' : 'proportional',
      resumeCooldownMs: s.resume_cooldown * 1000,
      memFloorBytes: bytesOrPercent(s.mem_floor, host.memory.totalBytes),
      psiMemoryPct: s.psi_memory,
      memoryStopTimeoutSec: s.memory_stop_timeout,
      scheduleVacate: s.schedule_vacate,
      pools,
    },
    maxDocksError: errors.length ? errors.join('; ') : undefined,
  };
}

/** `max_docks` evaluated over the host's facts (0 when it cannot be, as 0.6 did). */
function evaluateMaxDocks(
  expr: CompiledExpression,
  s: Readonly<Settings>,
  host: HostSample,
): { value: number; error?: string } {
  try {
    const facts = { ncpus: host.ncpus, ramBytes: host.memory.totalBytes, swapBytes: host.memory.swapTotalBytes };
    const v = expr.evaluate(maxDocksValues(facts, s));
    return { value: Math.max(0, Math.floor(v)) };
  } catch (err) {
    return { value: 0, error: `max_docks "${String(s.max_docks)}": ${(err as Error).message}` };
  }
}

/** The values a pool sets for itself (all but max_docks and its shape), from its settings and its stop command as loaded. */
function poolValues(
  s: Readonly<Settings>,
  stopCommand: readonly string[],
): Omit<PoolPolicy, 'name' | 'share' | 'maxDocks' | 'shape' | 'configHash'> {
  return {
    maxTtlMs: s.max_ttl * 1000,
    stopTimeoutSec: s.stop_timeout,
    stopSignal: s.stop_signal,
    stopCommand,
    backoffBaseMs: s.backoff_base * 1000,
    backoffMaxMs: s.backoff_max * 1000,
    noWorkUptimeMs: s.no_work_uptime * 1000,
  };
}
