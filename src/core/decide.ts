import { Plan } from './plan.ts';
import { planStarts } from './pool-starts.ts';
import { pilotsByPool, poolOfPilot, poolStateOf, withPoolState } from './pools.ts';
import { nextBackoff } from './rules/backoff.ts';
import { ioDecision, type IoOutcome } from './rules/io.ts';
import {
  calmLine,
  cpuView,
  isOverloaded,
  measuredOwnerPct,
  ownerReading,
  sharePct,
  type CpuView,
  type PilotLoad,
} from './rules/cpu.ts';
import { memoryOnItsWay, memoryState, memoryVictims, stillToFree } from './rules/memory.ts';
import { firstPausedFirst, youngestFirst } from './rules/pick.ts';
import { PAUSE_TRIES, PilotCpus, proportional, toPause, toResume } from './rules/give-back.ts';
import type { CpuGiveBack, DaemonStatus, DecideInput, Decision, Pilot, PoolPolicy } from './decision.ts';

export { pullDue } from './rules/pull.ts';
export { vacateOf } from './plan.ts';

/** States in which a pilot holds (or may soon hold) host resources. */
const LIVE_STATES = new Set(['running', 'paused', 'restarting']);

/** Whether a pilot is live (running, paused or restarting): one the rules could stop or remove. */
export const isLive = (p: Pilot): boolean => LIVE_STATES.has(p.state);

/** The CPUs `pilots` are allotted (each pool's at most its max_docks), and the biggest pilot's. */
export function loadOf(pilots: readonly Pilot[], pools: readonly PoolPolicy[]): PilotLoad {
  return { cpus: new PilotCpus(pilots, pools).cpus, largest: Math.max(...pools.map((p) => p.shape.cpusPerDock)) };
}

/** What the CPU step found, for the steps after it. */
interface CpuStep {
  readonly cpu: CpuView;
  readonly overloaded: boolean;
  readonly active: readonly Pilot[];
  readonly load: PilotLoad;
  readonly ownerPct: number | undefined;
  readonly ownerDisturbed: boolean;
  readonly pausedAt: Record<string, number>;
  /** The excess with `cpus` CPUs of pilots running, at this pass's owner figure. */
  readonly excessOf: (cpus: number) => number;
}

/**
 * The whole scheduling policy: given plain values, says what to do. No I/O, no clock.
 *
 * Order of the returned actions: clean-up of ended pilots; TTL, memory, overload and pause-timeout
 * removals; pauses or a resume; image pull; starts; exit. The shell executes them in that order.
 */
export function decide(input: DecideInput): Decision {
  const { policy, pilots, controls } = input;
  const plan = new Plan(input.state, policy);
  const ended = pilots.filter((p) => p.state === 'exited' || p.state === 'dead' || p.state === 'created');
  for (const p of ended)
    plan.remove(p, p.state === 'created' ? 'never-started' : p.state === 'dead' ? 'dead' : 'exited', false);
  const live = pilots.filter(isLive);
  removeExpired(plan, input, live);
  backOff(plan, input, ended, live);
  const memory = freeMemory(plan, input, live);
  const cpu = relieveCpu(plan, input, live);
  // the disk: pause the writers while the owner uses it, resume them together when it is quiet
  const io = input.policy.io && !controls.forceStop ? relieveDisk(plan, input, live, cpu.pausedAt) : undefined;
  const ioHeld = new Set([...(io?.state.paused ?? []), ...(io?.resume ?? [])]);
  const giveBack = resume(plan, input, live, cpu, memory.low, ioHeld);
  for (const id of Object.keys(cpu.pausedAt)) if (plan.removed.has(id)) delete cpu.pausedAt[id];
  plan.state = { ...plan.state, pausedAt: cpu.pausedAt };
  // the owner on the disk does not stop starts: a new pilot that writes is paused in the next pass,
  // one that only computes is what the host is for (and on a shared host the disk is often busy)
  const fit = planStarts(plan, input, live, cpu.cpu, Object.keys(cpu.pausedAt).length);
  // the pilots this pass starts take their share out of the owner's room too (the excess is linear in it)
  const starting = plan.actions.reduce((sum, a) => (a.kind === 'start' ? sum + a.count * a.shape.cpusPerDock : sum), 0);
  const cpuOut =
    giveBack.wakeAbovePct === undefined || starting === 0
      ? giveBack
      : { ...giveBack, wakeAbovePct: giveBack.wakeAbovePct - sharePct(starting, input.host.ncpus) };
  if (controls.forceStop && pilots.length === 0) plan.actions.push({ kind: 'exit', reason: 'force-stop' });
  else if (controls.drainStop && !controls.forceStop && pilots.length === 0)
    plan.actions.push({ kind: 'exit', reason: 'drain-stop' });
  return {
    state: plan.state,
    io,
    cpu: cpuOut,
    actions: plan.actions,
    status: statusOf(controls.forceStop, controls.drain || controls.drainStop || controls.outsideSchedule === true),
    fit: {
      ...fit,
      pilotSharePct: cpu.cpu.pilotSharePct,
      overloaded: cpu.overloaded,
      ownerBusyPct: cpu.cpu.ownerBusyPct,
      ownerDisturbed: cpu.ownerDisturbed,
      memoryLow: memory.low,
      backoffLevel: fit.pools?.[0]?.backoffLevel ?? 0,
    },
  };
}

/**
 * force-stop removes every live pilot; outside the schedule (with schedule_vacate) too; else those
 * past their pool's max_ttl, and those of a pool gone from the configuration (gracefully).
 */
function removeExpired(plan: Plan, input: DecideInput, live: readonly Pilot[]): void {
  const { controls, policy, now } = input;
  if (controls.forceStop) for (const p of live) plan.remove(p, 'force-stop', true);
  else if (controls.outsideSchedule && policy.scheduleVacate) for (const p of live) plan.remove(p, 'schedule', true);
  else
    for (const p of live) {
      const pool = poolOfPilot(p, plan.pools);
      if (!pool) plan.remove(p, 'pool-removed', true);
      else if (now - (p.startedAt ?? p.createdAt) > pool.maxTtlMs) plan.remove(p, 'ttl', true);
    }
}

/** Each pool's backoff, from its own pilots that ended and those still live. */
function backOff(plan: Plan, input: DecideInput, ended: readonly Pilot[], live: readonly Pilot[]): void {
  const endedBy = pilotsByPool(ended, plan.pools).byPool;
  const liveBy = pilotsByPool(live, plan.pools).byPool;
  for (const pool of plan.pools) {
    const prev = poolStateOf(input.state, pool.name).backoff;
    const mine = (m: Map<string, Pilot[]>): Pilot[] => m.get(pool.name) ?? [];
    const backoff = nextBackoff(prev, mine(endedBy), mine(liveBy), pool, input.now, input.jitter ?? 0.5);
    plan.state = withPoolState(plan.state, plan.pools, pool.name, { backoff });
  }
}

/** Memory first: the owner's processes must not meet the OOM killer. */
function freeMemory(plan: Plan, input: DecideInput, live: readonly Pilot[]): { low: boolean } {
  const { host, policy, controls } = input;
  const memory = memoryState(host, policy, plan.state.memoryLow === true);
  // what the last passes' memory removals still give back counts, while memory is short
  const onItsWay = memoryOnItsWay(plan.state.memoryFreed, input.now, new Set(input.pilots.map((p) => p.id)));
  plan.state = { ...plan.state, memoryLow: memory.low, memoryFreed: memory.short ? onItsWay.kept : undefined };
  const missing = stillToFree(host.memory.availableBytes, policy.memFloorBytes, onItsWay.bytes);
  if (memory.short && !controls.forceStop && missing !== undefined) {
    // as many of the youngest as it takes to lift MemAvailable back to the floor, at least one
    const victims = memoryVictims(youngestFirst(plan.left(live)), missing, input.pilotMemoryBytes);
    for (const victim of victims) plan.remove(victim, 'memory', true, policy.memoryStopTimeoutSec);
  }
  return { low: memory.low };
}

/** CPU: pause the youngest for a spike, vacate after pause_max (or after grace_kill without pausing). */
function relieveCpu(plan: Plan, input: DecideInput, live: readonly Pilot[]): CpuStep {
  const { now, policy, host, controls } = input;
  const pausedAt: Record<string, number> = {};
  for (const p of live) if (p.state === 'paused') pausedAt[p.id] = plan.state.pausedAt?.[p.id] ?? now;
  // failed pauses are remembered only for pilots still running
  const failed = Object.entries(plan.state.pauseFailures ?? {}).filter(([id]) =>
    live.some((p) => p.id === id && p.state === 'running'),
  );
  plan.state = { ...plan.state, pauseFailures: failed.length > 0 ? Object.fromEntries(failed) : undefined };
  const active = plan.left(live).filter((p) => p.state !== 'paused');
  // a reading right after the daemon's own engine work is mostly that work, not the owner's
  const measured = measuredOwnerPct(host, input.pilotsBusyPct, input.selfBusyPct);
  const reading = ownerReading(measured, input.ownWorkShare, plan.state.owner, now);
  // an owner who rose since the pass's interval began, as the CPU watch saw it
  const recent = policy.cpuPolicy === 'owner' && host.cpu !== undefined ? input.recentOwnerPct : undefined;
  // a figure of the watch is clean (no engine work in it): the one that stands in for disturbed readings next
  const owner =
    recent !== undefined && recent > (reading.pct ?? 0)
      ? { pct: recent, disturbed: false, kept: { pct: recent, at: now } }
      : reading;
  plan.state = { ...plan.state, owner: owner.kept };
  const load = loadOf(active, plan.pools);
  const cpu = cpuView(host, policy, load, owner.pct);
  const excessOf = (cpus: number): number =>
    cpuView(host, policy, { cpus, largest: load.largest }, owner.pct).excessPct ?? 0;
  const overloaded = isOverloaded(cpu, plan.state.overSince !== undefined, policy);
  const overSince =
    host.cpu === undefined ? plan.state.overSince : overloaded ? (plan.state.overSince ?? now) : undefined;
  plan.state = { ...plan.state, overSince };
  // without a reading there is no evidence either way: act on none
  if (!controls.forceStop && host.cpu !== undefined && overloaded) {
    if (policy.pauseMaxMs > 0) {
      const failures = plan.state.pauseFailures ?? {};
      for (const victim of toPause(youngestFirst(active), policy, excessOf, calmLine(cpu, policy))) {
        // a pilot the engine could not freeze PAUSE_TRIES times in a row goes instead
        if ((failures[victim.id] ?? 0) >= PAUSE_TRIES) plan.remove(victim, 'unfreezable', true);
        else {
          plan.actions.push({ kind: 'pause', id: victim.id, name: victim.name });
          pausedAt[victim.id] = now;
        }
      }
    } else {
      const victim = youngestFirst(active)[0];
      if (victim && overSince !== undefined && now - overSince >= policy.graceKillMs) {
        plan.remove(victim, 'overload', true);
        plan.state = { ...plan.state, lastKillAt: now };
      }
    }
  }
  if (!controls.forceStop) {
    for (const p of plan.left(live)) {
      if (p.state === 'paused' && policy.pauseMaxMs > 0 && now - (pausedAt[p.id] ?? now) >= policy.pauseMaxMs)
        plan.remove(p, 'pause-timeout', true);
    }
  }
  return { cpu, overloaded, active, load, ownerPct: owner.pct, ownerDisturbed: owner.disturbed, pausedAt, excessOf };
}

/** The I/O rule over the pilots left, its pauses and resumes added to the plan and to `pausedAt`. */
function relieveDisk(
  plan: Plan,
  input: DecideInput,
  live: readonly Pilot[],
  pausedAt: Record<string, number>,
): IoOutcome | undefined {
  if (!input.policy.io) return undefined;
  const pilots = plan.left(live);
  const pausing = new Set(plan.actions.flatMap((a) => (a.kind === 'pause' ? [a.id] : [])));
  const running = pilots.filter((p) => p.state === 'running' && !pausing.has(p.id));
  const paused = pilots.filter((p) => p.state === 'paused' || pausing.has(p.id));
  const io = ioDecision({
    now: input.now,
    policy: input.policy.io,
    reading: input.io,
    state: plan.state.io ?? {},
    running: running.map((p) => p.id),
    pausedNow: paused.map((p) => p.id),
  });
  plan.state = { ...plan.state, io: io.state };
  const byId = new Map(pilots.map((p) => [p.id, p]));
  for (const id of io.pause) {
    const p = byId.get(id);
    if (!p) continue;
    plan.actions.push({ kind: 'pause', id, name: p.name, for: 'io' });
    pausedAt[id] = input.now;
  }
  for (const id of io.resume) {
    const p = byId.get(id);
    if (!p || pausing.has(id)) continue;
    plan.actions.push({ kind: 'unpause', id, name: p.name, for: 'io' });
    delete pausedAt[id];
  }
  return io;
}

/**
 * Resumes the pilots paused for the CPU (not those the I/O rule holds) once the owner has stayed
 * calm for `resume_cooldown`: calm is no overload, no memory shortage, and room under the calm
 * line for the first paused pilot. As many as fit come back at once (one under 0.6's pace).
 */
function resume(
  plan: Plan,
  input: DecideInput,
  live: readonly Pilot[],
  step: CpuStep,
  memoryLow: boolean,
  ioHeld: ReadonlySet<string>,
): CpuGiveBack {
  const { host, policy, now } = input;
  const following = proportional(policy);
  const pace = following ? 'proportional' : 'one';
  const paused = firstPausedFirst(
    plan.left(live).filter((p) => p.state === 'paused' && !ioHeld.has(p.id)),
    step.pausedAt,
  );
  const pausing = plan.actions.filter((a) => a.kind === 'pause' && a.for === undefined).length;
  const { excessOf } = step;
  if (paused.length === 0 || host.cpu === undefined) {
    // without a reading the owner's calm is not known either way: it stands as it was
    if (paused.length === 0) plan.state = { ...plan.state, calmSince: undefined };
    const held = paused.length + pausing;
    const wakeAbovePct = following && host.cpu !== undefined ? wakeLine(step, plan, [], excessOf) : undefined;
    return { pace, paused: held, wakeAbovePct, following: following && (step.overloaded || held > 0) };
  }
  const calm = calmLine(step.cpu, policy);
  const fits = toResume(paused, step.active, policy, excessOf, calm);
  const calmNow = !step.overloaded && !memoryLow && fits.length > 0;
  const calmSince = calmNow ? (plan.state.calmSince ?? now) : undefined;
  plan.state = { ...plan.state, calmSince };
  const resumeAt = calmSince === undefined ? undefined : calmSince + policy.resumeCooldownMs;
  const due = resumeAt !== undefined && now >= resumeAt;
  if (due) {
    for (const p of fits) {
      plan.actions.push({ kind: 'unpause', id: p.id, name: p.name });
      delete step.pausedAt[p.id];
    }
  }
  const left = paused.length - (due ? fits.length : 0) + pausing;
  const wakeAbovePct = following ? wakeLine(step, plan, due ? fits : [], excessOf) : undefined;
  return {
    pace,
    paused: left,
    resumeAt: left > 0 ? resumeAt : undefined,
    wakeAbovePct,
    following: following && (step.overloaded || left > 0),
  };
}

/**
 * The owner's figure over which the host is over the margin once this pass's pauses and resumes
 * are done: the excess is linear in the owner's figure, so it is the owner's figure now plus how
 * far the excess then is under the margin.
 */
function wakeLine(
  step: CpuStep,
  plan: Plan,
  resumed: readonly Pilot[],
  excessOf: (cpus: number) => number,
): number | undefined {
  if (step.ownerPct === undefined) return undefined;
  const pausing = new Set(plan.actions.flatMap((a) => (a.kind === 'pause' ? [a.id] : [])));
  const running = new PilotCpus([...step.active.filter((p) => !pausing.has(p.id)), ...resumed], plan.pools);
  return step.ownerPct + step.cpu.marginPct - excessOf(running.cpus);
}

function statusOf(forceStop: boolean, draining: boolean): DaemonStatus {
  if (forceStop) return 'stopping';
  return draining ? 'draining' : 'active';
}
