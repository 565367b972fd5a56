/**
 * One pass: observe() -> decide() -> execute() -> a PassRecord. The shell keeps no policy: the
 * values come from the host observer and the engine, the decision from the core, what to do next
 * (the image bookkeeping, when to come back) from the core's settle().
 */
import { decide, isLive } from '../core/decide.ts';
import { memoryOnItsWay } from '../core/rules/memory.ts';
import type { EngineError } from '../core/errors.ts';
import { poolsOf } from '../core/pools.ts';
import { ownWorkShare, poolImages, type PoolImages } from '../core/decide-inputs.ts';
import { settle, type PassOutcome } from '../core/settle.ts';
import type { Identity } from '../core/shapes.ts';
import type { Controls, DaemonStatus, Decision, Pilot, Policy, PolicyState } from '../core/types.ts';
import type { LoadedConfig } from '../config/load.ts';
import { resolvePolicy } from '../config/policy.ts';
import { pullAuthFor } from '../config/registry-auth-file.ts';
import type { EnginePort } from '../engine/port.ts';
import { RETRY_DELAYS_MS, retryDelay } from '../common/retry.ts';
import { isTransientEngineError } from '../engine/engine-errors.ts';
import type { HostReading, PilotCpu } from '../host/observer.ts';
import type { PilotPriority } from '../host/pilot-priority.ts';
import type { Logger } from '../report/logger.ts';
import type { RemovalLog } from '../report/removals.ts';
import type { IoStatus } from '../report/status.ts';
import type { Clock } from '../common/clock.ts';
import { ioPolicy, type IoWatch } from './io-watch.ts';
import { execute } from './executor.ts';
import type { LoopSignals } from './loop-signals.ts';

/** What a pass reads the host through (the HostObserver; tests give their own). */
export interface Observer {
  host(now: number): Promise<HostReading>;
  pilots(ids: readonly string[], now: number, ncpus: number): Promise<PilotCpu | undefined>;
}

export interface PassDeps {
  readonly engine: EnginePort;
  readonly observer: Observer;
  /** The disk's watch: its reading goes to decide(), the decision's throttle back to it; undefined: not governed. */
  readonly io?: IoWatch | undefined;
  readonly logger: Logger;
  readonly identity: Identity;
  readonly removals: RemovalLog;
  readonly apparmor: boolean;
  /** The idle-priority parent cgroup of new pilots; without it (`idleProblem`), the kill-based CPU rule. */
  readonly cgroupParent?: string | undefined;
  readonly idleProblem?: string | undefined;
  readonly clock: Clock;
  readonly random: () => number;
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

/** Runs passes and keeps what the core needs between them (its state) and the engine's health. */
export class PassRunner {
  readonly #d: PassDeps;
  #state: PolicyState = {};
  #policy: Policy | undefined;
  /** How long the last pass spent on engine work that changed the host (ms): it lands in the next CPU reading. */
  #ownWorkMs = 0;
  /** The pilots' priority as last read back from their own cgroups. */
  #priority: PilotPriority | undefined;
  #engineFailures = 0;
  #status: DaemonStatus = 'active';
  /** Whether the last decision found the owner on the disk (for the disk's watch between passes). */
  #ownerOnDisk = false;
  /** Whether the last pass left a live pilot (or has not run): one the memory rule could take. */
  #pilotsLive = true;

  constructor(deps: PassDeps) {
    this.#d = deps;
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

  /** The memory the last passes' memory removals still give back at `now` (bytes), for the memory watch. */
  memoryOnItsWay(now: number): number {
    return memoryOnItsWay(this.#state.memoryFreed, now).bytes;
  }

  /** One pass; never throws for an unreachable engine or an abort (the record says so). */
  async run(config: LoadedConfig, controls: Controls, signals: LoopSignals): Promise<PassRecord> {
    const { clock, logger } = this.#d;
    const at = clock.now();
    const mainMs = config.settings.main_sleep * 1000;
    let reading: HostReading;
    try {
      reading = await this.#d.observer.host(at);
    } catch (err) {
      logger.error(`cannot sample the host: ${(err as Error).message}`);
      return { at, controls, pilots: [], status: this.#status, nextMs: mainMs };
    }
    try {
      return await this.#decideAndAct(config, controls, signals, { at, reading });
    } catch (err) {
      if (signals.abortSignal.aborted) return { at, controls, reading, pilots: [], status: this.#status, nextMs: 0 };
      if (!isTransientEngineError(err)) throw err;
      return this.#engineDown(err as EngineError, { at, controls, reading, mainMs });
    }
  }

  /** Observes the engine and the pilots' cgroups, and decides. */
  async #decide(
    config: LoadedConfig,
    controls: Controls,
    signal: AbortSignal,
    seen: { at: number; reading: HostReading },
  ) {
    const { engine, identity } = this.#d;
    const { at: now, reading } = seen;
    const { host } = reading;
    const pilots = await engine.listPilots(identity.instance, { signal });
    const present = new Set<string>();
    for (const image of new Set(config.pools.map((p) => p.pilot.image)))
      if (await engine.imagePresent(image, { signal })) present.add(image);
    const use = await this.#d.observer.pilots(
      pilots.map((p) => p.id),
      now,
      host.ncpus,
    );
    if (use?.priority) this.#priority = use.priority;
    // idle priority asked for, but not what the kernel gives the pilots (read back from their own cgroups): the kill-based rule
    const notIdle =
      this.#d.idleProblem !== undefined || (this.#d.cgroupParent !== undefined && this.#priority?.enabled === false);
    const resolved = resolvePolicy(config, host, notIdle ? 'total' : undefined);
    const { maxDocksError } = resolved;
    const io = this.#d.io;
    const policy: Policy = io ? { ...resolved.policy, io: ioPolicy(config.settings, io.mechanism) } : resolved.policy;
    this.#policy = policy;
    const view = poolImages(this.#state, poolImagesOf(config, policy), present, now);
    const first = config.pools[0]?.name ?? '';
    const decision = decide({
      now,
      policy,
      host,
      pilots,
      controls,
      image: view.images[first] ?? { name: config.pilot.image, present: present.has(config.pilot.image) },
      images: view.images,
      state: view.state,
      pilotsBusyPct: use?.totalPct,
      pilotMemoryBytes: use?.memory,
      selfBusyPct: reading.selfBusyPct,
      ownWorkShare: ownWorkShare(this.#ownWorkMs, host.cpu?.intervalSec),
      jitter: this.#d.random(),
      io: io?.take(pilots),
    });
    this.#state = decision.state;
    const maxDocks = poolsOf(policy).reduce((sum, p) => sum + p.maxDocks, 0);
    return { pilots, use, maxDocks: { value: maxDocks, error: maxDocksError }, decision };
  }

  /** Decides, carries the decision out, and settles. */
  async #decideAndAct(
    config: LoadedConfig,
    controls: Controls,
    signals: LoopSignals,
    seen: { at: number; reading: HostReading },
  ): Promise<PassRecord> {
    const { engine, identity, clock } = this.#d;
    const signal = signals.abortSignal;
    const { pilots, use, maxDocks, decision } = await this.#decide(config, controls, signal, seen);
    const workStart = clock.monotonic();
    this.#ownWorkMs = 0;
    const outcome = await execute(decision.actions, pilots, this.#execContext(config, signals));
    const doneAt = clock.now();
    if (decision.actions.some((a) => a.kind !== 'exit')) this.#ownWorkMs = clock.monotonic() - workStart;
    for (const e of (await this.#d.io?.apply(decision.io, pilots)) ?? [])
      this.#d.logger.warn(`cannot limit the pilots' I/O: ${e}`);
    const after = outcome.started || outcome.removed ? await engine.listPilots(identity.instance, { signal }) : pilots;
    const mainMs = config.settings.main_sleep * 1000;
    const settled = settle(this.#state, decision, outcome, {
      image: config.pilot.image,
      pools: this.#policy ? poolImagesOf(config, this.#policy) : undefined,
      at: doneAt,
      controls,
      pilotsLeft: after.length,
      mainMs,
      memory: { usage: use?.memory, left: after.map((p) => p.id) },
    });
    this.#state = settled.state;
    this.#ownerOnDisk = decision.io?.ownerBusy === true;
    this.#pilotsLive = after.some(isLive);
    const engineChange = this.#status === 'waiting' ? { to: 'up' as const, failures: this.#engineFailures } : undefined;
    this.#engineFailures = 0;
    this.#status = decision.status;
    return {
      at: seen.at,
      controls,
      reading: seen.reading,
      pilots: after,
      use,
      maxDocks,
      decision,
      outcome,
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
      pilot: { shape: config.pilot, configHash: config.hash },
      pools: new Map(config.pools.map((p) => [p.name, { shape: p.pilot, configHash: p.hash }])),
      apparmor: d.apparmor,
      pullSource: (image) => pullAuthFor(image, config.settings),
      cgroupParent: d.cgroupParent,
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
  return { pools: poolsOf(policy), images: Object.fromEntries(config.pools.map((p) => [p.name, p.pilot.image])) };
}
