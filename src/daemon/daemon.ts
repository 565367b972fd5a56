import { shortBeyondRelease } from '../core/rules/memory.ts';
import type { Identity } from '../core/pilot-shape.ts';
import type { Controls } from '../core/decision.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { EnginePort } from '../engine/port.ts';
import type { IdleCgroup } from '../host/idle-cgroup.ts';
import { blindText } from '../host/io-accounting.ts';
import type { MemoryReading } from '../host/observer.ts';
import type { Logger } from '../report/logger.ts';
import { RemovalLog } from '../report/removals.ts';
import type { Reporter } from '../report/reporter.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import { ConfigReloader } from './config-reloader.ts';
import { ioPolicy, type IoWatch } from './io-watch.ts';
import { LoopSignals } from './loop-signals.ts';
import { MemoryWatch } from './memory-watch.ts';
import { CpuWatch } from './cpu-watch.ts';
import type { Observer } from './observe.ts';
import { PassRunner, type PassRecord } from './pass.ts';
import type { ExecContext } from './executor.ts';
import { PassRecorder } from './recorder.ts';
import type { RunDir } from './run-dir.ts';
import { ScheduleWindow } from './schedule.ts';
import { watchEngineEvents, watchRunDir } from './wakers.ts';
import { poolsHash } from '../config/pools.ts';

/** The host as the loop sees it, set up by `plancton run` before the loop starts. */
export interface DaemonHost {
  /** The host observer (HostObserver): the pass's reading and the memory watch's. */
  readonly observer: Observer & {
    prime(now: number): Promise<{ at: number }>;
    memory(): Promise<MemoryReading>;
    /** The owner's CPU since the last call, for the CPU watch; absent or undefined: no watch. */
    ownerCpu?(): Promise<number | undefined>;
  };
  /**
   * When the observer took its first reading (the CPU baseline): `plancton run` primes it before
   * its own start-up work, so that the two overlap. Without it, the loop primes the observer itself.
   */
  readonly primed?: { readonly at: number } | undefined;
  /** The idle-priority parent cgroup as set up at start; `idleProblem` says why there is none. */
  readonly idle?: IdleCgroup | undefined;
  readonly idleProblem?: string | undefined;
  /**
   * The set-up that needs the engine's answer (the idle-priority parent, the disk's watch), tried
   * again before each pass while it could not be done at start for want of that answer (a sidecar
   * engine that starts beside Plancton): resolves to the set-up, or undefined while the engine
   * still does not answer. Absent: the start's is final.
   */
  readonly retrySetup?: (() => Promise<LateSetup | undefined>) | undefined;
  /** The disk: the owner's I/O measured between passes, the mechanism detected at start; undefined: not governed. */
  readonly io?: IoWatch | undefined;
  /** Lifts the pilots' idle groups while they are paused (host/pause-boost.ts); undefined: pauses as they are. */
  readonly pauseBoost?: ExecContext['pauseBoost'];
}

/** What DaemonHost.retrySetup brings once the engine answers. */
export interface LateSetup {
  readonly idle?: IdleCgroup | undefined;
  readonly idleProblem?: string | undefined;
  readonly io?: IoWatch | undefined;
}

/** Where the configuration is read anew, beside the loop. */
export interface DaemonReload {
  /** Reads the configuration; throws ConfigError when it is invalid; gives up when `signal` aborts. */
  readonly load: (signal: AbortSignal) => Promise<LoadedConfig>;
  /** The whole reload must be over within this (ms; default RELOAD_DEADLINE_MS). */
  readonly deadlineMs?: number | undefined;
}

/** Time and chance, injected so that tests drive them. */
export interface DaemonTiming {
  readonly clock?: Clock | undefined;
  readonly random?: (() => number) | undefined;
  /** Shortest time between two iterations when woken by an event (ms). */
  readonly minIntervalMs?: number | undefined;
}

/** Everything the loop touches outside itself, injected so that tests can drive it. */
export interface DaemonDeps {
  readonly engine: EnginePort;
  readonly identity: Identity;
  readonly apparmor: boolean;
  readonly host: DaemonHost;
  readonly reload: DaemonReload;
  readonly runDir: RunDir;
  readonly logger: Logger;
  /** Told of every iteration and removal; never awaited by the loop. */
  readonly reporters?: readonly Reporter[] | undefined;
  readonly timing?: DaemonTiming | undefined;
}

export type ExitReason = 'signal' | 'drain-stop' | 'force-stop';

/**
 * The shortest interval of the first CPU reading (ms): 50 jiffies on 2 CPUs (2% resolution), more
 * on larger hosts. It only sizes the first pass; later readings span main_sleep, and pilots run at
 * idle priority meanwhile.
 */
const FIRST_READING_MS = 250;

/** How often the memory watch reads MemAvailable between passes (ms). */
const MEMORY_WATCH_MS = 500;

/** How often the CPU watch reads the owner's CPU between passes (ms): two small kernel-file reads. */
const CPU_WATCH_MS = 250;

/**
 * The control loop: a pass (observe, decide, execute, record) every `main_sleep` seconds, and
 * sooner when the engine says a pilot died, a control file changed or memory ran short. Passes
 * never overlap. See docs/architecture.md.
 */
export class Daemon {
  readonly removals = new RemovalLog();
  readonly #d: DaemonDeps;
  readonly #clock: Clock;
  readonly #reloader: ConfigReloader;
  readonly #signals = new LoopSignals();
  readonly #pass: PassRunner;
  readonly #recorder: PassRecorder;
  readonly #schedule = new ScheduleWindow();
  /** The idle-priority parent and the disk's watch as set up (at start, or later: DaemonHost.retrySetup). */
  #setup: {
    cgroup?: IdleCgroup | undefined;
    problem?: string | undefined;
    io?: IoWatch | undefined;
    pending: boolean;
  };
  /** Controls imposed by on_stop, on top of the run directory's; set once a stop was asked for. */
  #forced: Partial<Controls> | undefined;
  #iterations = 0;

  constructor(deps: DaemonDeps, config: LoadedConfig) {
    this.#d = deps;
    this.#clock = deps.timing?.clock ?? systemClock;
    const startedAt = this.#clock.now();
    this.#reloader = new ConfigReloader(config, {
      load: deps.reload.load,
      logger: deps.logger,
      clock: this.#clock,
      stop: this.#signals.stopSignal,
      deadlineMs: deps.reload.deadlineMs,
    });
    const reporters = deps.reporters ?? [];
    for (const r of reporters) this.removals.onRemoval((removal) => r.removal(removal));
    const { engine, logger, identity, apparmor, host } = deps;
    this.#setup = {
      cgroup: host.idle,
      problem: host.idleProblem,
      io: host.io,
      pending: host.retrySetup !== undefined,
    };
    const common = { logger, identity, removals: this.removals, clock: this.#clock };
    const state = this.#setup;
    // read at every pass: the set-up may come after the start (retrySetup)
    this.#pass = new PassRunner({
      ...common,
      engine,
      observer: host.observer,
      get io() {
        return state.io;
      },
      apparmor,
      get cgroupParent() {
        return state.cgroup?.parent;
      },
      get idleProblem() {
        return state.problem;
      },
      pauseBoost: host.pauseBoost,
      random: deps.timing?.random ?? Math.random,
    });
    this.#recorder = new PassRecorder({
      ...common,
      runDir: deps.runDir,
      reporters,
      startedAt,
      get idle() {
        return state.cgroup
          ? { enabled: true, detail: state.cgroup.settings }
          : { enabled: false, detail: state.problem ?? 'off (cgroup_parent empty)' };
      },
    });
  }

  /** The configuration in force: the last good one. */
  get config(): LoadedConfig {
    return this.#reloader.current;
  }

  /**
   * A stop signal. With `on_stop: keep` the loop ends after the action in flight; with `drain` or
   * `remove` the loop goes on, as drain-stop or force-stop, until no pilot is left. A second
   * signal gives up the engine calls in flight (a hung pull or stop) and exits at once. Idempotent.
   */
  stop(): void {
    const { logger } = this.#d;
    const mode = this.config.settings.on_stop;
    if (mode !== 'keep' && this.#forced === undefined) {
      this.#forced = mode === 'remove' ? { forceStop: true } : { drain: true, drainStop: true };
      logger.info(
        `stop requested: ${mode === 'remove' ? 'removing every pilot' : 'draining'} before exit (on_stop: ${mode}); a second signal exits at once`,
      );
      this.wake(false, true);
      return;
    }
    if (this.#signals.stopped || mode !== 'keep') {
      if (!this.#signals.abortSignal.aborted) logger.info('stop requested again: giving up the action in flight');
      this.#signals.abort();
      return;
    }
    logger.info('stop requested: finishing the action in flight');
    this.#forced ??= {};
    this.#signals.stop();
  }

  /**
   * Runs the next iteration soon: after the minimum interval, or at once when `urgent`. `replan`:
   * what the pass in flight decided by may have changed (a control, memory), so a fill under way
   * takes no new start.
   */
  wake(urgent = false, replan = urgent): void {
    this.#signals.wake(urgent, replan);
  }

  async run(): Promise<ExitReason> {
    const { logger, identity, runDir, engine } = this.#d;
    const { observer } = this.#d.host;
    await runDir.ensure();
    this.#announce();
    const watcher = watchRunDir(runDir.path, () => this.wake(false, true), logger);
    const events = watchEngineEvents(
      engine,
      identity.instance,
      () => this.wake(),
      logger,
      this.#signals.stopSignal,
      this.#clock,
    );
    const watches = this.#startWatches();
    try {
      const primed = this.#d.host.primed ?? (await observer.prime(this.#clock.now()));
      // the first decision needs a CPU reading over a meaningful interval
      const first = Math.min(FIRST_READING_MS, this.config.settings.main_sleep * 1000);
      await this.#sleep(Math.max(0, first - (this.#clock.now() - primed.at)), false);
      return await this.#loop();
    } finally {
      this.#schedule.close();
      watches.close();
      watcher?.close();
      this.#signals.stop();
      await events;
      await Promise.all((this.#d.reporters ?? []).map((r) => r.close().catch(() => undefined)));
      logger.info('plancton stopped');
    }
  }

  /**
   * The watches between passes: memory and the owner's CPU a few times a second, the disk's I/O.
   * Each wakes the loop early when the owner needs something back.
   */
  #startWatches(): { close(): void } {
    const { observer } = this.#d.host;
    const memoryWatch = new MemoryWatch(
      {
        read: () => observer.memory(),
        isShort: (m) => this.#memoryShort(m),
        onShort: () => this.wake(true),
        clock: this.#clock,
      },
      MEMORY_WATCH_MS,
    );
    const ownerCpu = observer.ownerCpu?.bind(observer);
    const cpuWatch = ownerCpu
      ? new CpuWatch(
          {
            read: ownerCpu,
            threshold: () => this.#pass.cpuWakeAbove,
            quiet: () => this.#pass.quiet,
            // urgent, no replan: the owner's rise decides pauses; a fill in flight is cut by the next pass
            onOver: (pct) => {
              this.#pass.noteOwner(pct);
              this.wake(true, false);
            },
            clock: this.#clock,
          },
          CPU_WATCH_MS,
        )
      : undefined;
    if (this.#setup.io) this.#startIo(this.#setup.io);
    return {
      close: () => {
        memoryWatch.close();
        cpuWatch?.close();
        // the one set up now, were it set up after the start
        this.#setup.io?.close();
      },
    };
  }

  /** The disk's watch between passes: the owner's I/O read, the loop woken when the owner writes. */
  #startIo(io: IoWatch): void {
    io.start(
      () => ioPolicy(this.config.settings, io.mechanism),
      // urgent but no replan: the disk decides pauses, not how many start, and the engine's own
      // writes while a fill creates containers read as the owner's (a replan cut every fill in passes)
      () => this.wake(true, false),
      () => this.#pass.ownerOnDisk,
    );
  }

  async #loop(): Promise<ExitReason> {
    for (;;) {
      if (this.#signals.stopped) return 'signal';
      const record = await this.#onePass();
      const exit = record.outcome?.exit;
      if (exit) {
        if (this.#forced !== undefined) return 'signal'; // on_stop's own drain or removal: the run directory is left as it was
        await this.#afterExit(exit);
        return exit;
      }
      if (this.#signals.stopped) return 'signal';
      await this.#sleep(record.nextMs, true);
    }
  }

  async #onePass(): Promise<PassRecord> {
    this.#iterations++;
    this.#signals.beginPass();
    // a reload runs beside the loop: what it brought since the last pass comes in here, at a pass boundary
    const next = this.#reloader.poll(this.#clock.now());
    if (next) for (const r of this.#d.reporters ?? []) r.configure?.(next);
    if (this.#setup.pending) await this.#retrySetup();
    const s = this.config.settings;
    const outsideSchedule = !this.#schedule.isOpen(s.schedule, s.schedule_timezone, new Date(this.#clock.now()));
    const controls = { ...(await this.#d.runDir.readControls()), outsideSchedule, ...this.#forced };
    const began = this.#clock.monotonic();
    const record = await this.#pass.run(this.config, controls, this.#signals);
    await this.#recorder.record(record, {
      config: this.config,
      reloadError: this.#reloader.error,
      iterations: this.#iterations,
      passMs: this.#clock.monotonic() - began,
    });
    return record;
  }

  /** The set-up the start could not do for want of the engine, tried again; said once done. */
  async #retrySetup(): Promise<void> {
    const r = await this.#d.host.retrySetup?.();
    if (!r) return;
    Object.assign(this.#setup, { cgroup: r.idle, problem: r.idleProblem, io: r.io, pending: false });
    this.#sayIdle(r.idle, r.idleProblem);
    this.#sayIo(r.io);
    // the loop's watches run already: the disk's joins them
    if (r.io) this.#startIo(r.io);
  }

  #announce(): void {
    const { logger, identity } = this.#d;
    const { idle, idleProblem, io, retrySetup } = this.#d.host;
    const config = this.config;
    logger.info('plancton started', {
      ...identity,
      config: config.source,
      hash: poolsHash(config.pools),
      pid: process.pid,
    });
    for (const w of config.warnings) logger.warn(w);
    this.#sayIdle(idle, idleProblem);
    if (retrySetup)
      logger.info("the disk's watch waits for the engine to answer (its cgroup version), tried before each pass");
    else this.#sayIo(io);
  }

  #sayIdle(idle: IdleCgroup | undefined, problem: string | undefined): void {
    if (idle) this.#d.logger.info(`pilots run at idle priority under ${idle.parent} (${idle.settings})`);
    else if (problem)
      this.#d.logger.warn(
        `pilots do NOT run at idle priority: ${problem}; falling back to the kill-based CPU rule (cpu_policy total)`,
      );
  }

  #sayIo(io: IoWatch | undefined): void {
    if (!io) return;
    const { logger } = this.#d;
    logger.info(`the disk: ${io.setup.mechanism} (${io.setup.detail})`);
    const m = io.metering;
    const blind = blindText(m);
    if (m.counted.length)
      logger.info(
        `the pilots' I/O is metered by ${m.how} on ${m.counted.join(', ')}${m.switchedOn.length ? `; counting switched on for ${m.switchedOn.join(', ')} by a no-op rule` : ''}`,
      );
    if (blind)
      logger.warn(
        `the pilots' I/O cannot be seen on ${m.blind.map((b) => b.disk).join(', ')} (${blind})${m.counted.length ? '' : '; the disk rule cannot act'}`,
      );
  }

  /** Drain-stop and force-stop end with the daemon drained, so that a restart starts nothing until `resume`. */
  async #afterExit(reason: 'drain-stop' | 'force-stop'): Promise<void> {
    const { runDir, logger } = this.#d;
    await runDir.set('drain', `left by ${reason}`);
    await runDir.clear(reason === 'force-stop' ? 'forceStop' : 'drainStop');
    logger.info(`${reason}: no pilot left, exiting`);
  }

  /**
   * Whether memory is short by the policy of the last pass, beyond what its removals still give
   * back (for the watch). With no live pilot left there is nothing to take: no wake (a pass can
   * start none while memory is low; the next one comes after main_sleep).
   */
  #memoryShort(m: MemoryReading): boolean {
    const policy = this.#pass.policy;
    if (policy === undefined || !this.#pass.pilotsLive) return false;
    const onItsWay = this.#pass.memoryOnItsWay(this.#clock.now());
    return shortBeyondRelease(m.memory.availableBytes, m.psi?.some.avg10, policy, onItsWay);
  }

  #sleep(ms: number, wakeable: boolean): Promise<void> {
    return this.#signals.sleep(this.#clock, ms, wakeable, this.#d.timing?.minIntervalMs ?? 1000);
  }
}
