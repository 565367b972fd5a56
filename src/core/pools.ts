/**
 * Pools of pilots sharing one host: which pool a pilot belongs to, and each pool's memory in the
 * state. A configuration without pools is one pool, `default`, made of the top-level values (the
 * configuration makes it), so that every decision about it is the one a single-pool Plancton made.
 */
import type { Pilot, PolicyState, PoolPolicy, PoolState } from './decision.ts';

/** The name of the one pool of a configuration without `pools`. */
export const DEFAULT_POOL = 'default';

/** The first pool: the one of pilots without a pool label (a policy has at least one). */
export function firstOf(pools: readonly PoolPolicy[]): PoolPolicy {
  const [first] = pools;
  if (!first) throw new Error('a policy has at least one pool');
  return first;
}

/**
 * The pool a pilot belongs to: the one its pool label names; a pilot without the label (made
 * before pools existed) belongs to the first pool. Undefined: its pool is gone from the configuration.
 */
export function poolOfPilot(p: Pilot, pools: readonly PoolPolicy[]): PoolPolicy | undefined {
  if (p.pool === undefined) return pools[0];
  return pools.find((pool) => pool.name === p.pool);
}

/** The pilots of each pool, by name, and those of pools no longer configured. */
export function pilotsByPool(
  pilots: readonly Pilot[],
  pools: readonly PoolPolicy[],
): { byPool: Map<string, Pilot[]>; orphans: Pilot[] } {
  const byPool = new Map<string, Pilot[]>(pools.map((p) => [p.name, []]));
  const orphans: Pilot[] = [];
  for (const p of pilots) {
    const pool = poolOfPilot(p, pools);
    if (pool) byPool.get(pool.name)?.push(p);
    else orphans.push(p);
  }
  return { byPool, orphans };
}

/** What a pool remembers. */
export function poolStateOf(state: PolicyState, name: string): PoolState {
  return state.pools?.[name] ?? {};
}

/** `state` with part of a pool's memory replaced (`patch`); pools no longer configured are forgotten. */
export function withPoolState(
  state: PolicyState,
  pools: readonly PoolPolicy[],
  name: string,
  patch: Partial<PoolState>,
): PolicyState {
  const next = { ...poolStateOf(state, name), ...patch };
  const kept = Object.entries(state.pools ?? {}).filter(([n]) => n !== name && pools.some((p) => p.name === n));
  const entries = next.backoff === undefined && next.image === undefined ? kept : [...kept, [name, next] as const];
  return withPools(state, entries);
}

/** `state` with `entries` as its pools' memory (none: no `pools` key at all). */
function withPools(state: PolicyState, entries: ReadonlyArray<readonly [string, PoolState]>): PolicyState {
  const rest: { -readonly [K in keyof PolicyState]: PolicyState[K] } = { ...state };
  delete rest.pools;
  return entries.length > 0 ? { ...rest, pools: Object.fromEntries(entries) } : rest;
}
