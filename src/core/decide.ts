import { nextBackoff, probes } from './rules/backoff.ts';
import { ioDecision } from './rules/io.ts';
import { calmLine, cpuView, isOverloaded, measuredOwnerPct, ownerReading } from './rules/cpu.ts';
import { memoryState, memoryVictims } from './rules/memory.ts';
import { firstPaused, youngest, youngestFirst } from './rules/pick.ts';
import { pullDue } from './rules/pull.ts';
import { fittingPilots, startBlock } from './rules/starts.ts';
import type { Action, DaemonStatus, DecideInput, Decision, Pilot, PolicyState, RemoveReason } from './types.ts';

export { pullDue } from './rules/pull.ts';

/** States in which a pilot holds (or may soon hold) host resources. */
const LIVE_STATES = new Set(['running', 'paused', 'restarting']);

/**
 * The whole scheduling policy: given plain values, says what to do. No I/O, no clock.
 *
 * Order of the returned actions: clean-up of ended pilots; TTL, memory, overload and pause-timeout
 * removals; pauses or a resume; image pull; starts; exit. The shell executes them in that order.
 */
export function decide(input: DecideInput): Decision {
  const { now, policy, host, pilots, controls } = input;
  const actions: Action[] = [];
  const removed = new Set<string>();
  const remove = (p: Pilot, reason: RemoveReason, stopFirst: boolean, graceSec?: number): void => {
    actions.push({ kind: 'remove', id: p.id, name: p.name, reason, stopFirst, graceSec });
    removed.add(p.id);
  };
  const left = (ps: readonly Pilot[]): Pilot[] => ps.filter((p) => !removed.has(p.id));

  const ended = pilots.filter((p) => p.state === 'exited' || p.state === 'dead' || p.state === 'created');
  for (const p of ended) remove(p, p.state === 'created' ? 'never-started' : p.state === 'dead' ? 'dead' : 'exited', false);
  const live = pilots.filter((p) => LIVE_STATES.has(p.state));

  if (controls.forceStop) for (const p of live) remove(p, 'force-stop', true);
  else if (controls.outsideSchedule && policy.scheduleVacate) for (const p of live) remove(p, 'schedule', true);
  else for (const p of live) if (now - (p.startedAt ?? p.createdAt) > policy.maxTtlMs) remove(p, 'ttl', true);

  let state: PolicyState = { ...input.state, backoff: nextBackoff(input.state.backoff, ended, live, policy, now, input.jitter ?? 0.5) };

  // memory first: the owner's processes must not meet the OOM killer
  const memory = memoryState(host, policy, state.memoryLow === true);
  state = { ...state, memoryLow: memory.low };
  if (memory.short && !controls.forceStop) {
    // as many of the youngest as it takes to lift MemAvailable back to the floor, at least one
    const missing = policy.memFloorBytes > 0 ? policy.memFloorBytes - host.memory.availableBytes : 0;
    for (const victim of memoryVictims(youngestFirst(left(live)), missing, input.pilotMemoryBytes)) remove(victim, 'memory', true, policy.memoryStopTimeoutSec);
  }

  // CPU: pause the youngest for a spike, vacate after pause_max (or after grace_kill without pausing)
  const pausedAt: Record<string, number> = {};
  for (const p of live) if (p.state === 'paused') pausedAt[p.id] = state.pausedAt?.[p.id] ?? now;
  const active = left(live).filter((p) => p.state !== 'paused');
  // a reading right after the daemon's own engine work is mostly that work, not the owner's
  const owner = ownerReading(measuredOwnerPct(host, input.pilotsBusyPct, input.selfBusyPct), input.ownWorkShare, state.owner, now);
  state = { ...state, owner: owner.kept };
  const cpu = cpuView(host, policy, active.length, owner.pct);
  const overloaded = isOverloaded(cpu, state.overSince !== undefined, policy);
  const overSince = host.cpu === undefined ? state.overSince : overloaded ? (state.overSince ?? now) : undefined;
  state = { ...state, overSince };
  // without a reading there is no evidence either way: act on none
  if (!controls.forceStop && host.cpu !== undefined) {
    if (overloaded && policy.pauseMaxMs > 0) {
      const victim = youngest(active);
      if (victim) {
        actions.push({ kind: 'pause', id: victim.id, name: victim.name });
        pausedAt[victim.id] = now;
      }
    } else if (overloaded && overSince !== undefined && now - overSince >= policy.graceKillMs) {
      const victim = youngest(active);
      if (victim) {
        remove(victim, 'overload', true);
        state = { ...state, lastKillAt: now };
      }
    }
  }
  if (!controls.forceStop) {
    for (const p of left(live)) {
      if (p.state === 'paused' && policy.pauseMaxMs > 0 && now - (pausedAt[p.id] ?? now) >= policy.pauseMaxMs) remove(p, 'pause-timeout', true);
    }
  }
  // the disk: pause the writers while the owner uses it, resume them together when it is quiet
  const io = policy.io && !controls.forceStop ? ioDecisionFor(input, state, left(live), actions, pausedAt) : undefined;
  if (io) state = { ...state, io: io.state };
  const ioHeld = new Set([...(io?.state.paused ?? []), ...(io?.resume ?? [])]);
  const stillPaused = left(live).filter((p) => p.state === 'paused' && !ioHeld.has(p.id));
  if (!overloaded && !memory.low && host.cpu !== undefined && stillPaused.length > 0) {
    // resume one at a time, and only if its share does not tip the host over again
    const next = firstPaused(stillPaused, pausedAt);
    const after = cpuView(host, policy, active.length + 1, owner.pct).excessPct ?? 0;
    if (next && after <= calmLine(cpu, policy)) {
      actions.push({ kind: 'unpause', id: next.id, name: next.name });
      delete pausedAt[next.id];
    }
  }
  for (const id of Object.keys(pausedAt)) if (removed.has(id)) delete pausedAt[id];
  state = { ...state, pausedAt };

  const remaining = left(live).length;
  const paused = Object.keys(pausedAt).length;
  if (!controls.forceStop && !controls.drainStop && !controls.drain && !controls.outsideSchedule && pullDue(input.image, policy, now)) {
    actions.push({ kind: 'pull', image: input.image.name });
  }
  const fitting = fittingPilots(input, cpu, remaining);
  const room = Math.max(0, Math.floor(policy.maxDocks) - remaining);
  // the owner on the disk does not stop starts: a new pilot that writes is paused in the next pass,
  // one that only computes is what the host is for (and on a shared host the disk is often busy)
  const blocked = startBlock(input, state, room, fitting, paused);
  // every pilot that fits starts in this pass (the shell keeps docks_per_loop starts in flight);
  // after a backoff's wait, one probe at a time: a new one only once the last has ended
  const probing = state.backoff ? probes(state.backoff, left(live)).length : 0;
  const perPass = policy.docksPerLoop < 1 ? 0 : state.backoff ? (probing > 0 ? 0 : 1) : Infinity;
  const toStart = blocked ? 0 : Math.min(fitting, room, perPass);
  if (toStart > 0) actions.push({ kind: 'start', count: toStart });

  if (controls.forceStop && pilots.length === 0) actions.push({ kind: 'exit', reason: 'force-stop' });
  else if (controls.drainStop && !controls.forceStop && pilots.length === 0) actions.push({ kind: 'exit', reason: 'drain-stop' });

  return {
    state,
    io,
    actions,
    status: statusOf(controls.forceStop, controls.drain || controls.drainStop || controls.outsideSchedule === true),
    fit: {
      running: remaining, fitting, room, toStart, blocked, pilotSharePct: cpu.pilotSharePct, overloaded,
      ownerBusyPct: cpu.ownerBusyPct, ownerDisturbed: owner.disturbed, memoryLow: memory.low, backoffLevel: state.backoff?.level ?? 0,
    },
  };
}

/** The I/O rule over the pilots left, its pauses and resumes added to `actions` and `pausedAt`. */
function ioDecisionFor(input: DecideInput, state: PolicyState, pilots: readonly Pilot[], actions: Action[], pausedAt: Record<string, number>): ReturnType<typeof ioDecision> | undefined {
  if (!input.policy.io) return undefined;
  const pausing = new Set(actions.flatMap((a) => (a.kind === 'pause' ? [a.id] : [])));
  const running = pilots.filter((p) => p.state === 'running' && !pausing.has(p.id));
  const paused = pilots.filter((p) => p.state === 'paused' || pausing.has(p.id));
  const io = ioDecision({ now: input.now, policy: input.policy.io, reading: input.io, state: state.io ?? {}, running: running.map((p) => p.id), pausedNow: paused.map((p) => p.id) });
  const byId = new Map(pilots.map((p) => [p.id, p]));
  for (const id of io.pause) {
    const p = byId.get(id);
    if (!p) continue;
    actions.push({ kind: 'pause', id, name: p.name, for: 'io' });
    pausedAt[id] = input.now;
  }
  for (const id of io.resume) {
    const p = byId.get(id);
    if (!p || pausing.has(id)) continue;
    actions.push({ kind: 'unpause', id, name: p.name, for: 'io' });
    delete pausedAt[id];
  }
  return io;
}

function statusOf(forceStop: boolean, draining: boolean): DaemonStatus {
  if (forceStop) return 'stopping';
  return draining ? 'draining' : 'active';
}
