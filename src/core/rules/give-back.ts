/**
 * How many pilots the CPU rule pauses or resumes in one pass. Under the owner policy the excess
 * is `owner + share - 100`, and each pilot paused takes its own CPUs out of the share: so one
 * pass pauses as many of the youngest as it takes to bring the excess down to the calm line, the
 * way the memory rule removes as many as the shortfall needs. Resuming is just as proportional,
 * once the owner has stayed calm for `resume_cooldown`: as many of those paused first as fit
 * under the calm line. `cpu_pace: one` (and the total policy, whose excess a pause does not
 * lower) keep 0.6's pace of one pilot per pass.
 */
import { poolOfPilot } from '../pools.ts';
import type { Pilot, Policy, PoolPolicy } from '../decision.ts';

/** How many times in a row a pilot's pause may fail before it is vacated instead (`unfreezable`). */
export const PAUSE_TRIES = 3;

/**
 * The CPUs a changing set of pilots is allotted, each pool's capped at its max_docks, kept
 * incrementally so that taking pilots out one by one stays linear on a host of hundreds.
 */
export class PilotCpus {
  readonly #counts = new Map<string, number>();
  readonly #pools: readonly PoolPolicy[];

  constructor(pilots: readonly Pilot[], pools: readonly PoolPolicy[]) {
    this.#pools = pools;
    for (const p of pilots) this.add(p, 1);
  }

  /** Counts `p` in (`by` 1) or out (-1); a pilot of a pool no longer configured counts for nothing. */
  add(p: Pilot, by: 1 | -1): void {
    const pool = poolOfPilot(p, this.#pools);
    if (pool) this.#counts.set(pool.name, (this.#counts.get(pool.name) ?? 0) + by);
  }

  /** Each pool's pilots (at most its max_docks) times its cpus_per_dock. */
  get cpus(): number {
    return this.#pools.reduce(
      (sum, pool) =>
        sum + Math.min(this.#counts.get(pool.name) ?? 0, Math.max(0, pool.maxDocks)) * pool.shape.cpusPerDock,
      0,
    );
  }
}

/** Whether the pace is proportional: `cpu_pace: proportional` under the owner policy. */
export function proportional(policy: Policy): boolean {
  return policy.cpuPace === 'proportional' && policy.cpuPolicy === 'owner';
}

/**
 * The pilots to pause, in order, from `youngestFirst` (the running pilots, youngest first): one
 * under 0.6's pace; else as many as bring the excess, `excessOf(cpus left running)`, to `calm`,
 * at least one and at most all of them.
 */
export function toPause(
  youngestFirst: readonly Pilot[],
  policy: Policy,
  excessOf: (cpus: number) => number,
  calm: number,
): Pilot[] {
  if (youngestFirst.length === 0) return [];
  if (!proportional(policy)) return youngestFirst.slice(0, 1);
  const running = new PilotCpus(youngestFirst, policy.pools);
  const chosen: Pilot[] = [];
  for (const p of youngestFirst) {
    running.add(p, -1);
    chosen.push(p);
    if (excessOf(running.cpus) <= calm) break;
  }
  return chosen;
}

/**
 * The pilots to resume, in order, from `firstPausedFirst`: as many as keep the excess with them
 * running again, `excessOf(cpus running then)`, at or under `calm` (at most one under 0.6's pace).
 */
export function toResume(
  firstPausedFirst: readonly Pilot[],
  active: readonly Pilot[],
  policy: Policy,
  excessOf: (cpus: number) => number,
  calm: number,
): Pilot[] {
  const running = new PilotCpus(active, policy.pools);
  const chosen: Pilot[] = [];
  const most = proportional(policy) ? firstPausedFirst.length : 1;
  for (const p of firstPausedFirst) {
    if (chosen.length >= most) break;
    running.add(p, 1);
    if (excessOf(running.cpus) > calm) break;
    chosen.push(p);
  }
  return chosen;
}
