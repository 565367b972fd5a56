/**
 * The starts of a pass, pool by pool: each pool's image pull, its claim on the idle CPU (its room
 * under max_docks, its backoff), and the idle CPU divided among the claims by share (rules/share.ts).
 */
import { vacateOf, type Plan } from './plan.ts';
import { pilotsByPool, poolStateOf } from './pools.ts';
import { probes } from './rules/backoff.ts';
import type { CpuView } from './rules/cpu.ts';
import { pullDue } from './rules/pull.ts';
import { pilotsIn, splitIdle, type Claim } from './rules/share.ts';
import { spareCpus, startBlock } from './rules/starts.ts';
import type { Decision, DecideInput, ImageStatus, Pilot, PoolFit, PoolPolicy } from './decision.ts';

type StartFit = Omit<
  Decision['fit'],
  'memoryLow' | 'backoffLevel' | 'pilotSharePct' | 'overloaded' | 'ownerBusyPct' | 'ownerDisturbed'
>;

/** A pool's image as decide() sees it (the shell hands one in for every pool). */
export function imageOfPool(input: DecideInput, pool: string): ImageStatus {
  const image = input.images[pool];
  if (!image) throw new Error(`no image for pool ${pool}`);
  return image;
}

/** One pull per image that is due, for the pools' images, unless nothing may start. */
function planPulls(plan: Plan, input: DecideInput): void {
  const { controls, policy, now } = input;
  if (controls.forceStop || controls.drainStop || controls.drain || controls.outsideSchedule) return;
  const pulled = new Set<string>();
  for (const pool of plan.pools) {
    const image = imageOfPool(input, pool.name);
    if (pulled.has(image.name) || !pullDue(image, policy, now)) continue;
    pulled.add(image.name);
    plan.actions.push({ kind: 'pull', image: image.name });
  }
}

/** A pool's claim and why it may start nothing, before the idle CPU is divided. */
function claimOf(
  plan: Plan,
  input: DecideInput,
  pool: PoolPolicy,
  mine: readonly Pilot[],
  ctx: { spare: number | undefined; paused: number },
): { claim: Claim; fit: PoolFit } {
  const backoff = poolStateOf(plan.state, pool.name).backoff;
  const { cpusPerDock } = pool.shape;
  const heldCpus = mine.length * cpusPerDock;
  const fitting = ctx.spare === undefined ? 0 : pilotsIn(ctx.spare, cpusPerDock);
  const room = Math.max(0, Math.floor(pool.maxDocks) - mine.length);
  const image = imageOfPool(input, pool.name);
  const blocked = startBlock(input, plan.state, { image, backoff, room, fitting, paused: ctx.paused });
  // after a backoff's wait, one probe at a time: a new one only once the last has ended
  const probing = backoff ? probes(backoff, mine).length : 0;
  const perPass = input.policy.docksPerLoop < 1 ? 0 : backoff ? (probing > 0 ? 0 : 1) : Infinity;
  const limit = blocked ? 0 : Math.min(room, perPass);
  const fit: PoolFit = {
    name: pool.name,
    share: pool.share,
    running: mine.length,
    cpus: heldCpus,
    fitting,
    room,
    maxDocks: Math.max(0, Math.floor(pool.maxDocks)),
    toStart: 0,
    blocked,
    backoffLevel: backoff?.level ?? 0,
  };
  return { claim: { share: pool.share, cpusPerDock, heldCpus, limit }, fit };
}

/** The image pulls and the starts, with the arithmetic behind the counts, overall and per pool. */
export function planStarts(
  plan: Plan,
  input: DecideInput,
  live: readonly Pilot[],
  cpu: CpuView,
  paused: number,
): StartFit {
  const { policy } = input;
  planPulls(plan, input);
  const left = plan.left(live);
  const { byPool } = pilotsByPool(left, plan.pools);
  const mineOf = (pool: PoolPolicy): Pilot[] => byPool.get(pool.name) ?? [];
  const held = plan.pools.reduce((sum, pool) => sum + mineOf(pool).length * pool.shape.cpusPerDock, 0);
  const spare = spareCpus(input, cpu, held);
  const parts = plan.pools.map((pool) => claimOf(plan, input, pool, mineOf(pool), { spare, paused }));
  const counts = splitIdle(
    parts.map((p) => p.claim),
    spare ?? 0,
  );
  const fits = parts.map(({ fit, claim }, i): PoolFit => {
    const toStart = counts[i] ?? 0;
    // it could have started, but the pools further under their share took the idle CPU
    const outshared = fit.blocked === undefined && toStart === 0 && claim.limit > 0;
    return { ...fit, toStart, blocked: outshared ? 'pool-share' : fit.blocked };
  });
  plan.pools.forEach((pool, i) => {
    const count = counts[i] ?? 0;
    if (count <= 0) return;
    plan.actions.push({
      kind: 'start',
      count,
      concurrency: Math.max(1, Math.min(count, policy.docksPerLoop)),
      ttlMs: pool.maxTtlMs,
      stopTimeoutSec: pool.stopTimeoutSec,
      pool: pool.name,
      vacate: vacateOf(pool),
      shape: pool.shape,
      configHash: pool.configHash,
    });
  });
  const toStart = fits.reduce((sum, f) => sum + f.toStart, 0);
  return {
    running: left.length,
    fitting: Math.max(...fits.map((f) => f.fitting)),
    room: fits.reduce((sum, f) => sum + f.room, 0),
    toStart,
    blocked: toStart > 0 && fits.length > 1 ? undefined : fits.find((f) => f.blocked !== undefined)?.blocked,
    pools: fits,
  };
}
