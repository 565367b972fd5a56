/** The decision as decide() builds it, step by step: its actions, the pilots removed so far, the state. */
import { firstOf, poolOfPilot } from './pools.ts';
import type { Action, Pilot, Policy, PolicyState, PoolPolicy, RemoveReason, Vacate } from './decision.ts';

/** How a pilot is asked to go: no time for a stop command when the grace is 0 (memory must be freed now). */
export function vacateOf(
  policy: Pick<PoolPolicy, 'stopTimeoutSec' | 'stopSignal' | 'stopCommand'>,
  graceSec = policy.stopTimeoutSec,
): Vacate {
  return { graceSec, signal: policy.stopSignal, command: graceSec > 0 ? policy.stopCommand : [] };
}

/**
 * How `p` is asked to go: its pool's stop settings; for a pilot whose pool is gone from the
 * configuration, the ones it was made with (its stop label), or, with that label unreadable, the
 * first pool's.
 */
export function vacateOfPilot(p: Pilot, pools: readonly PoolPolicy[], graceSec?: number): Vacate {
  const pool = poolOfPilot(p, pools);
  if (pool || !p.stop) return vacateOf(pool ?? firstOf(pools), graceSec);
  const grace = graceSec ?? p.stop.graceSec;
  return { graceSec: grace, signal: p.stop.signal, command: grace > 0 ? p.stop.command : [] };
}

/** The actions and state of one decision as it is being built; each step of decide() adds to it. */
export class Plan {
  readonly actions: Action[] = [];
  readonly removed = new Set<string>();
  readonly pools: readonly PoolPolicy[];
  state: PolicyState;

  constructor(state: PolicyState, policy: Policy) {
    this.state = state;
    this.pools = policy.pools;
  }

  remove(p: Pilot, reason: RemoveReason, stopFirst: boolean, graceSec?: number): void {
    const vacate = vacateOfPilot(p, this.pools, graceSec);
    this.actions.push({ kind: 'remove', id: p.id, name: p.name, reason, stopFirst, graceSec: vacate.graceSec, vacate });
    this.removed.add(p.id);
  }

  /** The pilots of `ps` not removed so far. */
  left(ps: readonly Pilot[]): Pilot[] {
    return ps.filter((p) => !this.removed.has(p.id));
  }
}
