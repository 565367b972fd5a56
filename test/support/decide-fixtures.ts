/** Shared fixtures for the decide() tables. */
import type { PoolImages } from '../../src/core/decide-inputs.ts';
import { poolsOf } from '../../src/core/pools.ts';
import type { Action, DecideInput, Pilot, PilotState, Policy } from '../../src/core/types.ts';

export const S = 1000;
export const NOW = 1_000_000 * S;

export const basePolicy: Policy = {
  maxDocks: 4,
  docksPerLoop: 2,
  cpusPerDock: 1,
  graceKillMs: 120 * S,
  graceSpawnMs: 60 * S,
  maxTtlMs: 43200 * S,
  overloadMarginPct: 10,
  fillFactor: 0.95,
  imageExpirationMs: 43200 * S,
  pullRetryMs: 60 * S,
  // 0.6's rules exactly: the tables below check them; the new rules have tables of their own
  cpuPolicy: 'total',
  overloadHysteresisPct: 0,
  pauseMaxMs: 0,
  memFloorBytes: 0,
  psiMemoryPct: 0,
  memoryStopTimeoutSec: 0,
  stopTimeoutSec: 10,
  stopSignal: 'SIGTERM',
  stopCommand: [],
  backoffBaseMs: 10 * S,
  backoffMaxMs: 600 * S,
  noWorkUptimeMs: 0,
};

/** The pools of `basePolicy` and their image, as settle() books pulls by. */
export const basePools: PoolImages = { pools: poolsOf(basePolicy), images: { default: 'busybox' } };

export function pilot(n: number, state: PilotState = 'running', startedAgoSec = 100): Pilot {
  return {
    id: `id${n}`,
    name: `plancton-worker-p${n}`,
    pilotId: `p${n}`,
    state,
    image: 'busybox',
    configHash: 'h',
    createdAt: NOW - (startedAgoSec + 1) * S,
    startedAt: state === 'created' ? undefined : NOW - startedAgoSec * S,
  };
}

export function input(over: Partial<DecideInput> & { busy?: number | undefined; ncpus?: number } = {}): DecideInput {
  const { busy: busyGiven, ncpus = 8, ...rest } = over;
  const busy = 'busy' in over ? busyGiven : 0;
  const image = { name: 'busybox', present: true, lastPulledName: 'busybox', lastPullOkAt: NOW - S };
  return {
    now: NOW,
    policy: basePolicy,
    host: {
      at: NOW,
      ncpus,
      cpu: busy === undefined ? undefined : { busyPct: busy, perCpuBusyPct: [], intervalSec: 30 },
      memory: { totalBytes: 1, availableBytes: 1, swapTotalBytes: 0, swapFreeBytes: 0 },
    },
    pilots: [],
    controls: { drain: false, drainStop: false, forceStop: false },
    images: Object.fromEntries(poolsOf(rest.policy ?? basePolicy).map((p) => [p.name, image])),
    state: {},
    ...rest,
  };
}

export const kinds = (actions: readonly Action[]): string[] =>
  actions.map((a) =>
    a.kind === 'remove' ? `remove:${a.id}:${a.reason}` : a.kind === 'start' ? `start:${a.count}` : a.kind,
  );
