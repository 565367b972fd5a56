import type {
  Action,
  DaemonStatus,
  DecideInput,
  Decision,
  ImageStatus,
  Pilot,
  Policy,
  PolicyState,
  StartBlock,
} from './types.ts';

/** States in which a pilot holds (or may soon hold) host resources. */
const LIVE_STATES = new Set(['running', 'paused', 'restarting']);

/** Floating point slack so that e.g. 0.95 * 2 / 0.1 counts as 19, not 18.999… */
const EPSILON = 1e-9;

/**
 * The whole scheduling policy: given plain values, says what to do. No I/O, no clock.
 *
 * Order of the returned actions: clean-up of dead pilots, TTL and overload removals,
 * image pull, starts, exit. The shell executes them in that order.
 */
export function decide(input: DecideInput): Decision {
  const { now, policy, host, pilots, controls } = input;
  const actions: Action[] = [];
  const removed = new Set<string>();
  const remove = (p: Pilot, reason: Extract<Action, { kind: 'remove' }>['reason'], stopFirst: boolean): void => {
    actions.push({ kind: 'remove', id: p.id, name: p.name, reason, stopFirst });
    removed.add(p.id);
  };

  for (const p of pilots) {
    if (p.state === 'exited') remove(p, 'exited', false);
    else if (p.state === 'dead') remove(p, 'dead', false);
    else if (p.state === 'created') remove(p, 'never-started', false);
  }
  const live = pilots.filter((p) => LIVE_STATES.has(p.state));

  if (controls.forceStop) {
    for (const p of live) remove(p, 'force-stop', true);
  } else {
    for (const p of live) {
      if (now - (p.startedAt ?? p.createdAt) > policy.maxTtlMs) remove(p, 'ttl', true);
    }
  }

  const ncpus = Math.max(1, host.ncpus);
  const pilotSharePct = (100 * policy.cpusPerDock * Math.min(live.length, Math.max(0, policy.maxDocks))) / ncpus;
  const overloaded = host.cpu !== undefined && host.cpu.busyPct > pilotSharePct + policy.overloadMarginPct;
  let state: PolicyState = nextOverloadState(input.state, host.cpu !== undefined, overloaded, now);

  if (overloaded && !controls.forceStop && state.overSince !== undefined && now - state.overSince >= policy.graceKillMs) {
    const victim = youngest(live.filter((p) => !removed.has(p.id)));
    if (victim) {
      remove(victim, 'overload', true);
      state = { ...state, lastKillAt: now };
    }
  }

  const remaining = live.filter((p) => !removed.has(p.id)).length;
  const stopping = controls.forceStop || controls.drainStop;
  if (!stopping && !controls.drain && pullDue(input.image, policy, now)) {
    actions.push({ kind: 'pull', image: input.image.name });
  }

  const idlePct = host.cpu === undefined ? 0 : Math.max(0, 100 - host.cpu.busyPct);
  const fitting = Math.max(0, Math.floor((idlePct * policy.fillFactor * ncpus) / (policy.cpusPerDock * 100) + EPSILON));
  const room = Math.max(0, Math.floor(policy.maxDocks) - remaining);
  const blocked = startBlock(input, state, room, fitting);
  const toStart = blocked ? 0 : Math.min(fitting, room, Math.max(0, policy.docksPerLoop));
  if (toStart > 0) actions.push({ kind: 'start', count: toStart });

  if (controls.forceStop && pilots.length === 0) actions.push({ kind: 'exit', reason: 'force-stop' });
  else if (controls.drainStop && !controls.forceStop && pilots.length === 0) actions.push({ kind: 'exit', reason: 'drain-stop' });

  return {
    state,
    actions,
    status: statusOf(controls.forceStop, controls.drain || controls.drainStop),
    fit: { running: remaining, fitting, room, toStart, blocked, pilotSharePct, overloaded },
  };
}

/** The overload clock: starts when the host goes over, resets when it is back under. */
function nextOverloadState(prev: PolicyState, sampled: boolean, overloaded: boolean, now: number): PolicyState {
  if (!sampled) return prev; // no reading: neither evidence of overload nor of recovery
  if (!overloaded) return { lastKillAt: prev.lastKillAt };
  return { lastKillAt: prev.lastKillAt, overSince: prev.overSince ?? now };
}

/** The most recently started pilot; ties go to the highest id so the choice is deterministic. */
function youngest(candidates: readonly Pilot[]): Pilot | undefined {
  let best: Pilot | undefined;
  for (const p of candidates) {
    const t = p.startedAt ?? p.createdAt;
    const bt = best ? (best.startedAt ?? best.createdAt) : -Infinity;
    if (!best || t > bt || (t === bt && p.id > best.id)) best = p;
  }
  return best;
}

/** Pull when the image is missing, was renamed in the config, or has expired; failed pulls wait `pullRetryMs`. */
export function pullDue(image: ImageStatus, policy: Policy, now: number): boolean {
  if (image.lastPullAttemptAt !== undefined && now - image.lastPullAttemptAt < policy.pullRetryMs) return false;
  if (!image.present || image.lastPulledName !== image.name || image.lastPullOkAt === undefined) return true;
  return now - image.lastPullOkAt >= policy.imageExpirationMs;
}

function startBlock(input: DecideInput, state: PolicyState, room: number, fitting: number): StartBlock | undefined {
  const { controls, host, image, policy, now } = input;
  if (controls.forceStop) return 'stopping';
  if (controls.drain || controls.drainStop) return 'draining';
  if (host.cpu === undefined) return 'no-cpu-sample';
  if (!image.present) return 'image-missing';
  if (state.lastKillAt !== undefined && now - state.lastKillAt < policy.graceSpawnMs) return 'grace-spawn';
  if (room <= 0) return 'max-docks';
  if (fitting <= 0) return 'no-idle-cpu';
  return undefined;
}

function statusOf(forceStop: boolean, draining: boolean): DaemonStatus {
  if (forceStop) return 'stopping';
  return draining ? 'draining' : 'active';
}
