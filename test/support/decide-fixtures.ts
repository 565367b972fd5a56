/** Shared fixtures for the decide() tables. */
import type { PoolImages } from '../../src/core/decide-inputs.ts';
import { DEFAULT_POOL } from '../../src/core/pools.ts';
import type { Action, DecideInput, Pilot, PilotState, Policy, PoolPolicy } from '../../src/core/decision.ts';
import type { PilotShape } from '../../src/core/pilot-shape.ts';

export const S = 1000;
export const NOW = 1_000_000 * S;

/**
 * A policy as the tables write it: the host's values and the one pool's, side by side, so that a
 * table overrides either with a spread; with `pools`, those are the pools and the flat pool values
 * are not used. `cpusPerDock` is the one pool's shape's. `policyOf` makes the core's Policy of it.
 */
export type FlatPolicy = Omit<Policy, 'pools'> &
  Omit<PoolPolicy, 'name' | 'share' | 'shape' | 'configHash'> & {
    readonly cpusPerDock: number;
    readonly pools?: readonly PoolPolicy[] | undefined;
  };

/** The shape of the tables' pilots (busybox, 1 CPU); their config hash is `h`, as `pilot()`'s. */
export const baseShape: PilotShape = {
  image: 'busybox',
  cmd: [],
  user: '',
  binds: [],
  devices: [],
  capAdd: [],
  capDrop: [],
  securityOpt: [],
  privileged: false,
  cpusPerDock: 1,
  memoryBytes: 0,
  swapBytes: 0,
  network: '',
  env: [],
  pidsLimit: 0,
};

export const basePolicy: FlatPolicy = {
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
  // 0.6's pace: one pilot per pass, resumed at the first calm pass (give-back.test.ts has the proportional one)
  cpuPace: 'one',
  resumeCooldownMs: 0,
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

/** The core's Policy of a flat one: its pools, or one pool, `default`, of the flat values. */
export function policyOf(flat: FlatPolicy): Policy {
  const { maxDocks, cpusPerDock, maxTtlMs, stopTimeoutSec, stopSignal, stopCommand, pools, ...rest } = flat;
  const { backoffBaseMs, backoffMaxMs, noWorkUptimeMs, ...host } = rest;
  const shape = { ...baseShape, cpusPerDock };
  const one = { maxDocks, shape, configHash: 'h', maxTtlMs, stopTimeoutSec, stopSignal, stopCommand };
  const backoff = { backoffBaseMs, backoffMaxMs, noWorkUptimeMs };
  return { ...host, pools: pools ?? [{ name: DEFAULT_POOL, share: 1, ...one, ...backoff }] };
}

/** The pools of `basePolicy` and their image, as settle() books pulls by. */
export const basePools: PoolImages = { pools: policyOf(basePolicy).pools, images: { default: 'busybox' } };

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

/** What a table gives input(): any of DecideInput, its policy flat, and the host's busy share and CPUs. */
export type InputOver = Partial<Omit<DecideInput, 'policy'>> & {
  policy?: FlatPolicy;
  busy?: number | undefined;
  ncpus?: number;
};

export function input(over: InputOver = {}): DecideInput {
  const { busy: busyGiven, ncpus = 8, policy: flat = basePolicy, ...rest } = over;
  const policy = policyOf(flat);
  const busy = 'busy' in over ? busyGiven : 0;
  const image = { name: 'busybox', present: true, lastPulledName: 'busybox', lastPullOkAt: NOW - S };
  return {
    now: NOW,
    policy,
    host: {
      at: NOW,
      ncpus,
      cpu: busy === undefined ? undefined : { busyPct: busy, perCpuBusyPct: [], intervalSec: 30 },
      memory: { totalBytes: 1, availableBytes: 1, swapTotalBytes: 0, swapFreeBytes: 0 },
    },
    pilots: [],
    controls: { drain: false, drainStop: false, forceStop: false },
    images: Object.fromEntries(policy.pools.map((p) => [p.name, image])),
    state: {},
    ...rest,
  };
}

export const kinds = (actions: readonly Action[]): string[] =>
  actions.map((a) =>
    a.kind === 'remove' ? `remove:${a.id}:${a.reason}` : a.kind === 'start' ? `start:${a.count}` : a.kind,
  );
