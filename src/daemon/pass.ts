/**
 * One pass: observe -> decide -> execute -> record. The observe step (observe.ts) reads the host,
 * the engine and the pilots' cgroups and resolves the policy; decide is one call of the pure core
 * on those values; the executor carries its actions out; the core's settle() says what follows
 * (the image bookkeeping, when to come back); the PassRecord holds it all. The shell keeps no policy.
 */
import { decide, isLive } from '../core/decide.ts';
import { memoryOnItsWay } from '../core/rules/memory.ts';
import type { EngineError } from '../core/errors.ts';
import { ownWorkShare, poolImages, type PoolImages } from '../core/decide-inputs.ts';
import { settle, type PassOutcome } from '../core/settle.ts';
import type { Controls, DaemonStatus, Decision, Pilot, Policy, PolicyState } from '../core/decision.ts';
import type { LoadedConfig } from '../config/load.ts';
import { pullAuthFor } from '../config/registry-auth-file.ts';
import { RETRY_DELAYS_MS, retryDelay } from '../common/retry.ts';
import { isTransientEngineError } from '../engine/engine-errors.ts';
import type { HostReading, PilotCpu } from '../host/observer.ts';
import type { Logger } from '../report/logger.ts';
import type { RemovalLog } from '../report/removals.ts';
import type { IoStatus } from '../report/status.ts';
import type { Clock } from '../common/clock.ts';
import type { IoWatch } from './io-watch.ts';
import { execute, type ExecContext } from './executor.ts';
import type { LoopSignals } from './loop-signals.ts';
import { PassObserver, type ObserveDeps, type Observation } from './observe.ts';

/** What a pass observes through (ObserveDeps) and acts with. */
export interface PassDeps extends ObserveDeps {
  /** The idle-priority parent cgroup of new pilots; undefined: none. */
  readonly cgroupParent?: string | undefined;
  /** The disk's watch: its reading goes to decide(), the decision's throttle back to it; undefined: not governed. */
  readonly io?: IoWatch | undefined;
  readonly logger: Logger;
  readonly removals: RemovalLog;
  readonly apparmor: boolean;
  readonly clock: Clock;
  readonly random: () => number;
  /** Lifts the pilots' idle groups for the time of their pause. */
  readonly pauseBoost?: ExecContext['pauseBoost'];
}

/** What one pass saw, decided and did: the one record the status file and the reporters are made from. */
export interface PassRecord {
  /** When the pass began. */
  readonly at: number;
  readonly controls: Controls;
  /** The host reading; undefined when /proc could not be read (then nothing else was done). */
  readonly reading?: HostReading | undefined;
  /** The pilots after the actions (empty while the engine is unreachable). */
  readonly pilots: readonly Pilot[];
  /** The pilots' CPU and memory from their cgroups. */
  readonly use?: PilotCpu | undefined;
  /** max_docks on this host, and why it could not be evaluated. */
  readonly maxDocks?: { readonly value: number; readonly error?: string | undefined } | undefined;
  readonly decision?: Decision | undefined;
  readonly outcome?: PassOutcome | undefined;
  /** The disk after the pass: the mechanism, the owner's I/O, what is cut back (undefined: not governed, or no decision). */
  readonly io?: IoStatus | undefined;
  readonly status: DaemonStatus;
  /** Set while the engine is unreachable. */
  readonly engineError?: string | undefined;
  /** The engine went away in this pass, or came back after `failures` failed ones: logged once the status is written. */
  readonly engineChange?:
    | { readonly to: 'down'; readonly statusCode?: number | undefined }
    | { readonly to: 'up'; readonly failures: number }
    | undefined;
  /** When the next pass should run (ms from now). */
  readonly nextMs: number;
}

/** How long after a pass its engine work may still show in the host's CPU (ms): the CPU watch ignores that time. */
export const QUIET_AFTER_PASS_MS = 1000;

/** How old the CPU watch's figure may be when the pass it woke decides (ms). */
const RECENT_OWNER_MAX_AGE_MS = 1000;

/** Runs passes and keeps what the core needs between them (its state) and the engine's health. */
export class PassRunner {
  readonly #d: PassDeps;
  #state: PolicyState = {};
  #policy: Policy | undefined;
  /** How long the last pass spent on engine work that changed the host (ms): it lands in the next CPU reading. */
  #ownWorkMs = 0;
  #engineFailures = 0;
  #status: DaemonStatus = 'active';
  /** Whether the last decision found the owner on the disk (for the disk's watch between passes). */
  #ownerOnDisk = false;
  /** Whether the last pass left a live pilot (or has not run): one the memory rule could take. */
  #pilotsLive = true;
  /** A pass is running (its engine calls show as host CPU outside the pilots), and when the last one ended (monotonic ms). */
  #inPass = false;
  #passEndedAt = Number.NEGATIVE_INFINITY;
  /** The owner's figure the CPU watch saw over the line since the last pass, and when. */
  #recentOwner: { readonly pct: number; readonly at: number } | undefined;
  /** The owner's figure over which the last decision's host is over the CPU margin. */
  #cpuWakeAbove: number | undefined;

  readonly #observer: PassObserver;

  constructor(deps: PassDeps) {
    this.#d = deps;
    this.#observer = new PassObserver(deps);
  }

  /** The policy of the last pass (the memory watch decides by it between passes). */
  get policy(): Policy | undefined {
    return this.#policy;
  }

  /** Whether the last decision found the owner on the disk. */
  get ownerOnDisk(): boolean {
    return this.#ownerOnDisk;
  }

  /** Whether the last pass left a live pilot (true before the first): the memory watch wakes the loop only then. */
  get pilotsLive(): boolean {
    return this.#pilotsLive;
  }

  /** The owner's CPU figure (percent) over which the CPU watch should wake the loop; undefined: nothing to watch for. */
  get cpuWakeAbove(): number | undefined {
    return this.#cpuWakeAbove;
  }

  /** Whether no engine work of the daemon shows in the host's CPU now: no pass runs, and the last ended QUIET_AFTER_PASS_MS ago. */
  get quiet(): boolean {
    return !this.#inPass && this.#d.clock.monotonic() - this.#passEndedAt >= QUIET_AFTER_PASS_MS;
  }

  /** The CPU watch saw the owner at `pct` (over the line): the next pass decides by it. */
  noteOwner(pct: number): void {
    this.#recentOwner = { pct, at: this.#d.clock.monotonic() };
  }

  /** The memory the last passes' memory removals still give back at `now` (bytes), for the memory watch. */
  memoryOnItsWay(now: number): number {
    return memoryOnItsWay(this.#state.memoryFreed, now).bytes;
  }

  /** One pass; never throws for an unreachable engine or an abort (the record says so). */
  async run(config: LoadedConfig, controls: Controls, signals: LoopSignals): Promise<PassRecord> {
    this.#inPass = true;
    try {
      return await this.#run(config, controls, signals);
    } finally {
      this.#inPass = false;
      this.#passEndedAt = this.#d.clock.monotonic();
    }
  }

  async #run(config: LoadedConfig, controls: Controls, signals: LoopSignals): Promise<PassRecord> {
    const { clock, logger } = this.#d;
    const at = clock.now();
    const mainMs = config.settings.main_sleep * 1000;
    let reading: HostReading;
    try {
      reading = await this.#observer.host(at);
    } catch (err) {
      logger.error(`cannot sample the host: ${(err as Error).message}`);
      return { at, controls, pilots: [], status: this.#status, nextMs: mainMs };
    }
    try {
      const seen = await this.#observer.observe(config, at, reading, signals.abortSignal);
      return await this.#act(config, controls, signals, seen, this.#decide(config, controls, seen));
    } catch (err) {
      if (signals.abortSignal.aborted) return { at, controls, reading, pilots: [], status: this.#status, nextMs: 0 };
      if (!isTransientEngineError(err)) throw err;
      return this.#engineDown(err as EngineError, { at, controls, reading, mainMs });
    }
  }

  /** The pure core on the observed values: each pool's image over its book, then decide(). */
  #decide(config: LoadedConfig, controls: Controls, seen: Observation): Decision {
    const { at: now, reading, pilots, present, use, policy } = seen;
    const { host } = reading;
    this.#policy = policy;
    const view = poolImages(this.#state, poolImagesOf(config, policy), present, now);
    // the watch's figure is for the pass it woke: one a second old or older is stale
    const recent = this.#recentOwner;
    this.#recentOwner = undefined;
    const fresh = recent !== undefined && this.#d.clock.monotonic() - recent.at <= RECENT_OWNER_MAX_AGE_MS;
    const decision = decide({
      now,
      policy,
      host,
      pilots,
      controls,
      images: view.images,
      state: view.state,
      pilotsBusyPct: use?.totalPct,
      pilotMemoryBytes: use?.memory,
      selfBusyPct: reading.selfBusyPct,
      ownWorkShare: ownWorkShare(this.#ownWorkMs, host.cpu?.intervalSec),
      jitter: this.#d.random(),
      io: seen.io,
      recentOwnerPct: fresh ? recent.pct : undefined,
    });
    this.#state = decision.state;
    this.#cpuWakeAbove = decision.cpu?.wakeAbovePct;
    return decision;
  }

  /** Carries the decision out, settles, and makes the record. */
  async #act(
    config: LoadedConfig,
    controls: Controls,
    signals: LoopSignals,
    seen: Observation,
    decision: Decision,
  ): Promise<PassRecord> {
    const { engine, identity, clock } = this.#d;
    const { pilots, use } = seen;
    const workStart = clock.monotonic();
    this.#ownWorkMs = 0;
    const outcome = await execute(decision.actions, pilots, this.#execContext(config, signals));
    const doneAt = clock.now();
    if (decision.actions.some((a) => a.kind !== 'exit')) this.#ownWorkMs = clock.monotonic() - workStart;
    for (const e of (await this.#d.io?.apply(decision.io, pilots)) ?? [])
      this.#d.logger.warn(`cannot limit the pilots' I/O: ${e}`);
    const after =
      outcome.started || outcome.removed
        ? await engine.listPilots(identity.instance, { signal: signals.abortSignal })
        : pilots;
    const settled = settle(this.#state, decision, outcome, {
      pools: poolImagesOf(config, seen.policy),
      at: doneAt,
      controls,
      pilotsLeft: after.length,
      mainMs: config.settings.main_sleep * 1000,
      memory: { usage: use?.memory, left: after.map((p) => p.id) },
      priorityUnread: use !== undefined && use.priority === undefined,
    });
    this.#state = settled.state;
    this.#ownerOnDisk = decision.io?.ownerBusy === true;
    this.#pilotsLive = after.some(isLive);
    const engineChange = this.#status === 'waiting' ? { to: 'up' as const, failures: this.#engineFailures } : undefined;
    this.#engineFailures = 0;
    this.#status = decision.status;
    const maxDocks = { value: seen.policy.pools.reduce((sum, p) => sum + p.maxDocks, 0), error: seen.maxDocksError };
    return {
      ...{ at: seen.at, controls, reading: seen.reading, pilots: after, use, maxDocks, decision, outcome },
      io: this.#d.io?.status(decision.io, after),
      status: this.#status,
      engineChange,
      nextMs: settled.nextMs,
    };
  }

  #execContext(config: LoadedConfig, signals: LoopSignals): Parameters<typeof execute>[2] {
    const d = this.#d;
    return {
      engine: d.engine,
      logger: d.logger,
      removals: d.removals,
      identity: d.identity,
      apparmor: d.apparmor,
      pullSource: (image) => pullAuthFor(image, config.settings),
      cgroupParent: d.cgroupParent,
      pauseBoost: d.pauseBoost,
      clock: d.clock,
      random: d.random,
      signal: signals.abortSignal,
      stopping: () => signals.stopped,
      interrupted: () => signals.replan,
    };
  }

  #engineDown(
    err: EngineError,
    seen: { at: number; controls: Controls; reading: HostReading; mainMs: number },
  ): PassRecord {
    const delay = retryDelay({ delaysMs: RETRY_DELAYS_MS, forever: true }, this.#engineFailures + 1) ?? seen.mainMs;
    this.#engineFailures++;
    const engineChange = this.#status === 'waiting' ? undefined : { to: 'down' as const, statusCode: err.statusCode };
    this.#status = 'waiting';
    const { at, controls, reading } = seen;
    return {
      at,
      controls,
      reading,
      pilots: [],
      status: 'waiting',
      engineError: err.message,
      engineChange,
      nextMs: Math.max(1000, Math.min(delay, seen.mainMs)),
    };
  }
}

/** The pools of the policy and each one's image, from the configuration they were resolved from. */
function poolImagesOf(config: LoadedConfig, policy: Policy): PoolImages {
  return { pools: policy.pools, images: Object.fromEntries(config.pools.map((p) => [p.name, p.pilot.image])) };
}
