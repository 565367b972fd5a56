import { setTimeout as delay } from 'node:timers/promises';
import { decide } from '../core/decide.ts';
import { EngineError } from '../core/errors.ts';
import type { Controls, DaemonStatus, Decision, HostSample, ImageStatus, Pilot, PolicyState } from '../core/types.ts';
import type { LoadedConfig } from '../config/load.ts';
import { resolvePolicy } from '../config/policy.ts';
import { ENGINE_RETRY_DELAYS_MS } from '../engine/retry.ts';
import type { EnginePort } from '../engine/port.ts';
import type { PilotCpuMeter } from '../host/pilot-cpu.ts';
import type { IdleCgroup } from '../host/idle-cgroup.ts';
import { MemoryWatch } from '../host/memory-watch.ts';
import { bytesOrPercent } from '../config/policy.ts';
import { isMemoryShort } from '../core/rules/memory.ts';
import type { Logger } from '../report/logger.ts';
import { RemovalLog } from '../report/removals.ts';
import type { Reporter } from '../report/reporter.ts';
import { hostSummary, pilotRows, type StatusReport } from '../report/status.ts';
import { execute, type Identity } from './executor.ts';
import type { RunDir } from './run-dir.ts';
import { ScheduleWindow } from './schedule.ts';
import { watchEngineEvents, watchRunDir } from './wakers.ts';
import { ConfigReloader } from './config-reloader.ts';
import { ioPolicy, type IoWatch } from './io-watch.ts';

/** Everything the loop touches outside itself, injected so that tests can drive it. */
export interface DaemonDeps {
  readonly engine: EnginePort;
  readonly sampler: { sample(now: number): Promise<HostSample> };
  readonly cpuMeter?: PilotCpuMeter | undefined;
  /** The idle-priority parent cgroup as set up at start; `idleProblem` says why there is none. */
  readonly idle?: IdleCgroup | undefined;
  readonly idleProblem?: string | undefined;
  /**
   * When the sampler took its first reading (the CPU baseline) and this process's CPU time then:
   * `plancton run` primes it before its own start-up work, so that the two overlap. Without it,
   * the loop primes the sampler itself.
   */
  readonly primed?: { readonly at: number; readonly selfCpu: NodeJS.CpuUsage } | undefined;
  /** This process's CPU time so far (process.cpuUsage); tests give their own. */
  readonly selfCpu?: (() => NodeJS.CpuUsage) | undefined;
  /** The disk: the owner's I/O measured between passes, the mechanism detected at start; undefined: not governed. */
  readonly io?: IoWatch | undefined;
  /** Where /proc is, for the fast memory watch between iterations. */
  readonly procRoot?: string | undefined;
  readonly runDir: RunDir;
  readonly logger: Logger;
  readonly identity: Identity;
  /** Reads the configuration anew; throws ConfigError when it is invalid. */
  readonly reload: () => Promise<LoadedConfig>;
  readonly apparmor: boolean;
  readonly now?: () => number;
  readonly random?: () => number;
  /** Shortest time between two iterations when woken by an event (ms). */
  readonly minIntervalMs?: number;
  /** Told of every iteration and removal; never awaited by the loop. */
  readonly reporters?: readonly Reporter[];
}

export type ExitReason = 'signal' | 'drain-stop' | 'force-stop';

/**
 * The control loop: sample, list, decide, execute, report; every `main_sleep` seconds, and
 * sooner when the engine says a pilot died or a control file changed. Iterations never overlap.
 */
export class Daemon {
  readonly removals = new RemovalLog();
  readonly #d: DaemonDeps;
  readonly #now: () => number;
  readonly #stop = new AbortController();
  readonly #reloader: ConfigReloader;
  #wake = new AbortController();
  /** A stop signal arrived (on_stop may keep the loop going for a while). */
  #stopAsked = false;
  /** Controls imposed by on_stop, on top of the run directory's. */
  #forced: Partial<Controls> = {};
  #state: PolicyState = {};
  #image: Omit<ImageStatus, 'name' | 'present'> = {};
  #status: DaemonStatus = 'active';
  #engineError: string | undefined;
  #engineFailures = 0;
  #iterations = 0;
  readonly #startedAt: number;
  #lastSample: HostSample | undefined;
  #lastDecision: Decision | undefined;
  #lastMaxDocks = 0;
  #lastMaxDocksError: string | undefined;
  #lastCpu: ReadonlyMap<string, number> = new Map();
  #lastMem: ReadonlyMap<string, number> = new Map();
  readonly #schedule = new ScheduleWindow();
  /** Cuts the minimum interval short: memory is short. */
  #urgent = new AbortController();
  /** Set by a wake that makes the pass in flight stale; cleared when a pass begins. */
  #replan = false;
  /** How long the last pass spent on engine work that changed the host (ms): it lands in the next CPU reading. */
  #ownWorkMs = 0;
  /** This process's CPU time at the last host sample. */
  #selfCpu: NodeJS.CpuUsage | undefined;

  constructor(deps: DaemonDeps, config: LoadedConfig) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.#startedAt = this.#now();
    this.#reloader = new ConfigReloader(config, deps.reload, deps.logger, this.#startedAt);
    for (const r of deps.reporters ?? []) this.removals.onRemoval((removal) => r.removal(removal));
  }

  get config(): LoadedConfig {
    return this.#reloader.current;
  }

  /** The configuration in force: the last good one. */
  get #config(): LoadedConfig {
    return this.#reloader.current;
  }

  /**
   * A stop signal. With `on_stop: keep` (or the second time) the loop ends after the action in
   * flight; with `drain` or `remove` the loop goes on, as drain-stop or force-stop, until no
   * pilot is left. Idempotent.
   */
  stop(): void {
    const mode = this.#config.settings.on_stop;
    if (mode !== 'keep' && !this.#stopAsked) {
      this.#stopAsked = true;
      this.#forced = mode === 'remove' ? { forceStop: true } : { drain: true, drainStop: true };
      this.#d.logger.info(`stop requested: ${mode === 'remove' ? 'removing every pilot' : 'draining'} before exit (on_stop: ${mode}); a second signal exits at once`);
      this.wake(false, true);
      return;
    }
    if (!this.#stop.signal.aborted) this.#d.logger.info('stop requested: finishing the action in flight');
    this.#stopAsked = true;
    this.#stop.abort();
    this.#wake.abort();
  }

  /**
   * Runs the next iteration soon: after the minimum interval, or at once when `urgent`. `replan`:
   * what the pass in flight decided by may have changed (a control, memory), so a fill under way
   * takes no new start.
   */
  wake(urgent = false, replan = urgent): void {
    this.#wake.abort();
    if (urgent) this.#urgent.abort();
    if (replan) this.#replan = true;
  }

  async run(): Promise<ExitReason> {
    const { logger, identity, runDir } = this.#d;
    await runDir.ensure();
    logger.info('plancton started', { ...identity, config: this.#config.source, hash: this.#config.hash, pid: process.pid });
    for (const w of this.#config.warnings) logger.warn(w);
    if (this.#d.idle) logger.info(`pilots run at idle priority under ${this.#d.idle.parent} (${this.#d.idle.settings})`);
    else if (this.#d.idleProblem) logger.warn(`pilots do NOT run at idle priority: ${this.#d.idleProblem}; falling back to the kill-based CPU rule (cpu_policy total)`);
    const watcher = watchRunDir(runDir.path, () => this.wake(false, true), logger);
    const events = watchEngineEvents(this.#d.engine, identity.instance, () => this.wake(), logger, this.#stop.signal);
    const io = this.#d.io;
    if (io) logger.info(`the disk: ${io.setup.mechanism} (${io.setup.detail})`);
    io?.start(() => ioPolicy(this.#config.settings, io.setup.mechanism), () => this.wake(true), () => this.#lastDecision?.io?.ownerBusy === true);
    const memoryWatch = new MemoryWatch(this.#d.procRoot ?? '/proc', 500, (m, psi) => this.#memoryShort(m.availableBytes, m.totalBytes, psi?.some.avg10), () => this.wake(true));
    try {
      const primed = this.#d.primed ?? (await primeSampler(this.#d.sampler, this.#now(), this.#d.selfCpu));
      this.#selfCpu = primed.selfCpu;
      // the first decision needs a CPU reading over a meaningful interval
      const first = Math.min(FIRST_READING_MS, this.#config.settings.main_sleep * 1000);
      await this.#sleep(Math.max(0, first - (this.#now() - primed.at)), false);
      for (;;) {
        if (this.#stop.signal.aborted) return 'signal';
        const { exit, nextMs } = await this.#iteration();
        if (exit) {
          if (this.#stopAsked) return 'signal'; // on_stop's own drain or removal: the run directory is left as it was
          await this.#afterExit(exit);
          return exit;
        }
        if (this.#stop.signal.aborted) return 'signal';
        await this.#sleep(nextMs, true);
      }
    } finally {
      this.#schedule.close();
      memoryWatch.close();
      io?.close();
      watcher?.close();
      this.#stop.abort();
      await events;
      await Promise.all((this.#d.reporters ?? []).map((r) => r.close().catch(() => undefined)));
      logger.info('plancton stopped');
    }
  }

  /** One pass; returns when to run the next one. */
  async #iteration(): Promise<{ exit?: 'drain-stop' | 'force-stop' | undefined; nextMs: number }> {
    const { engine, logger, identity, runDir } = this.#d;
    const mainMs = this.#config.settings.main_sleep * 1000;
    this.#iterations++;
    this.#replan = false;
    await this.#maybeReload();
    const now = this.#now();
    const s = this.#config.settings;
    const outsideSchedule = !this.#schedule.isOpen(s.schedule, s.schedule_timezone, new Date(now));
    const controls = { ...(await runDir.readControls()), outsideSchedule, ...this.#forced };
    let host: HostSample;
    let selfBusyPct: number | undefined;
    try {
      host = await this.#d.sampler.sample(now);
      selfBusyPct = this.#selfBusy(host);
      this.#lastSample = host;
    } catch (err) {
      logger.error(`cannot sample the host: ${(err as Error).message}`);
      await this.#report(controls, []);
      return { nextMs: mainMs };
    }

    let pilots: Pilot[];
    let decision: Decision;
    try {
      pilots = await engine.listPilots(identity.instance);
      const present = await engine.imagePresent(this.#config.pilot.image);
      if (present && this.#image.lastPulledName === undefined) {
        // found locally at start: expiry counts from now, no pull needed yet
        this.#image = { lastPulledName: this.#config.pilot.image, lastPullOkAt: now };
      }
      const cpu = this.#d.cpuMeter ? await this.#d.cpuMeter.measure(pilots.map((p) => p.id), now, host.ncpus) : undefined;
      this.#lastCpu = cpu?.perPilot ?? new Map();
      this.#lastMem = cpu?.memory ?? new Map();
      const resolved = resolvePolicy(this.#config, host, this.#d.idleProblem ? 'total' : undefined);
      const { maxDocksError } = resolved;
      const policy = this.#d.io ? { ...resolved.policy, io: ioPolicy(this.#config.settings, this.#d.io.setup.mechanism) } : resolved.policy;
      this.#noteMaxDocks(policy.maxDocks, maxDocksError);
      decision = decide({
        now, policy, host, pilots, controls, image: { name: this.#config.pilot.image, present, ...this.#image }, state: this.#state,
        pilotsBusyPct: cpu?.totalPct, pilotMemoryBytes: cpu?.memory, selfBusyPct, ownWorkShare: ownWorkShare(this.#ownWorkMs, host), jitter: (this.#d.random ?? Math.random)(),
        io: this.#d.io?.take(pilots),
      });
      this.#state = decision.state;
      this.#lastDecision = decision;
      const pullAttempt = decision.actions.some((a) => a.kind === 'pull');
      const workStart = performance.now();
      this.#ownWorkMs = 0;
      const result = await execute(decision.actions, pilots, {
        engine, logger, removals: this.removals, identity, config: this.#config, apparmor: this.#d.apparmor, cgroupParent: this.#d.idle?.parent,
        now: this.#now, random: this.#d.random ?? Math.random, stopping: () => this.#stop.signal.aborted, interrupted: () => this.#replan,
      });
      if (decision.actions.some((a) => a.kind !== 'exit')) this.#ownWorkMs = performance.now() - workStart;
      for (const e of (await this.#d.io?.apply(decision.io, pilots)) ?? []) logger.warn(`cannot limit the pilots' I/O: ${e}`);
      if (pullAttempt) {
        const t = this.#now();
        this.#image = result.pulled ? { lastPulledName: this.#config.pilot.image, lastPullOkAt: t, lastPullAttemptAt: t } : { ...this.#image, lastPullAttemptAt: t };
      }
      this.#engineUp();
      this.#status = decision.status;
      if (result.started || result.removed) pilots = await engine.listPilots(identity.instance);
      await this.#report(controls, pilots);
      this.#logIteration(decision, pilots.length, result.started);
      if (result.exit) return { exit: result.exit, nextMs: 0 };
      // come back soon while something is in motion: a pull to follow with starts, pilots to stop
      // filling: a pass that started pilots with room left (a fill cut short, or fewer fitted) comes
      // back at once; the next reading is mostly the engine starting them, which decide() discounts
      const filling = result.started > 0 && decision.fit.room > result.started;
      // memory: come straight back only while there is something to free; the memory watch wakes the loop when it runs short again
      const freeing = decision.actions.some((a) => a.kind === 'remove' && a.reason === 'memory');
      const busy = result.pulled === true || controls.forceStop || (controls.drainStop && pilots.length === 0) || freeing;
      // held back by a stand-in owner figure (the reading was mostly our own engine work): a real
      // reading soon, not in main_sleep
      const recheck = decision.fit.ownerDisturbed === true && decision.fit.blocked === 'no-idle-cpu';
      // the owner on the disk: look again within a second, to give it back once it is quiet
      const disk = decision.io?.ownerBusy === true || (decision.io?.state.paused?.length ?? 0) > 0;
      return { nextMs: busy || filling ? 0 : disk ? Math.min(mainMs, IO_RECHECK_MS) : recheck ? Math.min(mainMs, RECHECK_MS) : mainMs };
    } catch (err) {
      if (!(err instanceof EngineError) || !(err.unreachable || (err.statusCode ?? 0) >= 500)) throw err;
      return { nextMs: await this.#engineDown(err, controls, mainMs) };
    }
  }

  async #engineDown(err: EngineError, controls: Controls, mainMs: number): Promise<number> {
    const wait = Math.max(1000, Math.min(ENGINE_RETRY_DELAYS_MS[Math.min(this.#engineFailures, ENGINE_RETRY_DELAYS_MS.length - 1)] ?? 24000, mainMs));
    this.#engineFailures++;
    if (this.#status !== 'waiting') this.#d.logger.error(`engine unreachable, waiting: ${err.message}`, { statusCode: err.statusCode });
    this.#status = 'waiting';
    this.#engineError = err.message;
    await this.#report(controls, []);
    return wait;
  }

  #engineUp(): void {
    if (this.#status === 'waiting') this.#d.logger.info('engine reachable again, carrying on', { after: this.#engineFailures });
    this.#engineFailures = 0;
    this.#engineError = undefined;
  }

  async #maybeReload(): Promise<void> {
    const next = await this.#reloader.maybeReload(this.#now());
    if (next) for (const r of this.#d.reporters ?? []) r.configure?.(next);
  }

  #noteMaxDocks(value: number, error: string | undefined): void {
    if (error && error !== this.#lastMaxDocksError) this.#d.logger.error(`${error}; using 0`);
    this.#lastMaxDocks = value;
    this.#lastMaxDocksError = error;
  }

  async #report(controls: Controls, pilots: readonly Pilot[]): Promise<void> {
    const now = this.#now();
    const cpu = this.#lastCpu;
    const report: StatusReport = {
      pid: process.pid,
      ...this.#d.identity,
      state: this.#status,
      startedAt: this.#startedAt,
      updatedAt: now,
      iterations: this.#iterations,
      config: { source: this.#config.source, hash: this.#config.hash, mainSleep: this.#config.settings.main_sleep, maxDocks: this.#lastMaxDocks, maxDocksError: this.#lastMaxDocksError, reloadError: this.#reloader.error },
      engine: { reachable: this.#engineError === undefined, error: this.#engineError },
      io: this.#d.io?.status(this.#lastDecision?.io, pilots),
      idlePriority: this.#d.idle ? { enabled: true, detail: this.#d.idle.settings } : { enabled: false, detail: this.#d.idleProblem ?? 'off (cgroup_parent empty)' },
      controls,
      host: hostSummary(this.#lastSample),
      fit: this.#lastDecision?.fit,
      pilots: pilotRows(pilots, cpu, this.#lastMem),
      removals: this.removals.latest(20),
      removalsTotal: this.removals.total,
    };
    try {
      await this.#d.runDir.writeStatus(report);
    } catch (err) {
      this.#d.logger.warn(`cannot write the status file: ${(err as Error).message}`);
    }
    for (const r of this.#d.reporters ?? []) r.iteration(report, this.#lastSample);
  }

  /** `started`: pilots this pass did start (fewer than decided when a fill was cut short or a start failed). */
  #logIteration(d: Decision, count: number, started: number): void {
    const f = d.fit;
    this.#d.logger.verbose('iteration', {
      status: d.status, pilots: count, cpuBusyPct: this.#lastSample?.cpu?.busyPct, ownerBusyPct: f.ownerBusyPct, ownerDisturbed: f.ownerDisturbed, toStart: f.toStart, started, fitting: f.fitting,
      room: f.room, blocked: f.blocked, overloaded: f.overloaded, actions: d.actions.length, diskBusy: d.io?.ownerBusy,
    });
  }

  /** Drain-stop and force-stop end with the daemon drained, so that a restart starts nothing until `resume`. */
  async #afterExit(reason: 'drain-stop' | 'force-stop'): Promise<void> {
    const { runDir, logger } = this.#d;
    await runDir.set('drain', `left by ${reason}`);
    await runDir.clear(reason === 'force-stop' ? 'forceStop' : 'drainStop');
    logger.info(`${reason}: no pilot left, exiting`);
  }

  /** This process's CPU since the last sample, in percent of the host over that sample's interval. */
  #selfBusy(host: HostSample): number | undefined {
    const usage = this.#d.selfCpu ? this.#d.selfCpu() : process.cpuUsage();
    const last = this.#selfCpu;
    this.#selfCpu = usage;
    const intervalSec = host.cpu?.intervalSec ?? 0;
    if (last === undefined || intervalSec <= 0) return undefined;
    const usedSec = (usage.user - last.user + usage.system - last.system) / 1e6;
    return Math.min(100, (100 * usedSec) / (intervalSec * Math.max(1, host.ncpus)));
  }

  /** Whether memory is short by the current configuration (for the watch between iterations). */
  #memoryShort(available: number, total: number, psi: number | undefined): boolean {
    const s = this.#config.settings;
    return isMemoryShort(available, psi, bytesOrPercent(s.mem_floor, total), s.psi_memory);
  }

  /** Sleeps `ms`; an event wake cuts it short but never below the minimum interval, an urgent one at once. */
  async #sleep(ms: number, wakeable: boolean): Promise<void> {
    const min = Math.min(ms, this.#d.minIntervalMs ?? 1000);
    this.#wake = new AbortController();
    this.#urgent = new AbortController();
    const signal = wakeable ? AbortSignal.any([this.#stop.signal, this.#wake.signal]) : this.#stop.signal;
    const urgent = wakeable ? AbortSignal.any([this.#stop.signal, this.#urgent.signal]) : this.#stop.signal;
    await delay(min, undefined, { signal: urgent }).catch(() => undefined);
    if (ms > min) await delay(ms - min, undefined, { signal }).catch(() => undefined);
  }
}

/**
 * The shortest interval of the first CPU reading (ms): 50 jiffies on 2 CPUs (2% resolution), more
 * on larger hosts. It only sizes the first pass; later readings span main_sleep, and pilots run at
 * idle priority meanwhile.
 */
const FIRST_READING_MS = 250;

/** How soon a pass looks again while the owner uses the disk (ms). */
const IO_RECHECK_MS = 1000;

/** How soon a pass held back by a disturbed CPU reading looks again, with a clean one (ms). */
const RECHECK_MS = 2000;

/** Takes the sampler's first reading, the baseline of the first CPU interval; a failure is left to the first iteration to report. */
export async function primeSampler(sampler: DaemonDeps['sampler'], now: number, selfCpu: () => NodeJS.CpuUsage = () => process.cpuUsage()): Promise<{ at: number; selfCpu: NodeJS.CpuUsage }> {
  await sampler.sample(now).catch(() => undefined);
  return { at: now, selfCpu: selfCpu() };
}

/** The share of the CPU reading's interval that the last pass's engine work took (0-1); 0 without a reading. */
function ownWorkShare(ownWorkMs: number, host: HostSample): number {
  const intervalMs = (host.cpu?.intervalSec ?? 0) * 1000;
  return ownWorkMs <= 0 || intervalMs <= 0 ? 0 : Math.min(1, ownWorkMs / intervalMs);
}
