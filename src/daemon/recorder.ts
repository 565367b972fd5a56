/**
 * The last step of a pass: its record becomes the status file, the reporters' input and the
 * `iteration` log line. Figures are taken from the record as the pass made them; a pass that got
 * less far (no host reading, engine unreachable) shows the last ones known.
 */
import type { Identity } from '../core/pilot-shape.ts';
import type { Decision, HostSample } from '../core/decision.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { PilotCpu } from '../host/observer.ts';
import type { PilotPriority } from '../host/pilot-priority.ts';
import type { Logger } from '../report/logger.ts';
import type { RemovalLog } from '../report/removals.ts';
import type { Reporter } from '../report/reporter.ts';
import {
  hostSummary,
  pilotRows,
  poolSummary,
  type CpuStatus,
  type IoStatus,
  type StatusReport,
} from '../report/status.ts';
import { PAUSE_TRIES } from '../core/rules/give-back.ts';
import type { Clock } from '../common/clock.ts';
import type { PassRecord } from './pass.ts';
import type { RunDir } from './run-dir.ts';
import { poolsHash } from '../config/pools.ts';

export interface RecorderDeps {
  readonly runDir: RunDir;
  readonly logger: Logger;
  readonly identity: Identity;
  readonly reporters: readonly Reporter[];
  readonly removals: RemovalLog;
  readonly clock: Clock;
  readonly startedAt: number;
  /** The idle-priority parent cgroup's settings, or why pilots do not run at idle priority. */
  readonly idle: { readonly enabled: boolean; readonly detail: string };
}

/** The loop's own figures that go with a record. */
export interface LoopFacts {
  readonly config: LoadedConfig;
  readonly reloadError: string | undefined;
  readonly iterations: number;
  /** How long the pass took, from its host reading to its last engine call (ms, monotonic). */
  readonly passMs?: number | undefined;
}

export class PassRecorder {
  readonly #d: RecorderDeps;
  #sample: HostSample | undefined;
  #decision: Decision | undefined;
  #use: PilotCpu | undefined;
  #maxDocks: { value: number; error?: string | undefined } = { value: 0 };
  #engineError: string | undefined;
  /** The disk as the last pass that got to a decision left it. */
  #io: IoStatus | undefined;
  /** The pilots' priority as read back from their own cgroups (undefined before a pilot was found there). */
  #priority: PilotPriority | undefined;

  constructor(deps: RecorderDeps) {
    this.#d = deps;
  }

  /** Writes the status file, tells the reporters, and logs the pass when it got as far as a decision. */
  async record(rec: PassRecord, facts: LoopFacts): Promise<void> {
    this.#remember(rec);
    const report = this.#report(rec, facts);
    try {
      await this.#d.runDir.writeStatus(report);
    } catch (err) {
      this.#d.logger.warn(`cannot write the status file: ${(err as Error).message}`);
    }
    for (const r of this.#d.reporters) r.iteration(report, this.#sample);
    const change = rec.engineChange;
    if (change?.to === 'down')
      this.#d.logger.error(`engine unreachable, waiting: ${rec.engineError ?? ''}`, { statusCode: change.statusCode });
    if (change?.to === 'up') this.#d.logger.info('engine reachable again, carrying on', { after: change.failures });
    if (rec.decision && rec.outcome) this.#log(rec.decision, rec.pilots.length, rec.outcome.started, facts.passMs);
  }

  #remember(rec: PassRecord): void {
    if (rec.reading) this.#sample = rec.reading.host;
    if (rec.decision) [this.#decision, this.#use, this.#io] = [rec.decision, rec.use, rec.io];
    if (rec.use?.priority) this.#notePriority(rec.use.priority);
    if (rec.maxDocks) {
      if (rec.maxDocks.error && rec.maxDocks.error !== this.#maxDocks.error)
        this.#d.logger.error(`${rec.maxDocks.error}; using 0`);
      this.#maxDocks = rec.maxDocks;
    }
    if (rec.reading && (rec.decision || rec.engineError)) this.#engineError = rec.engineError;
  }

  /** Keeps the priority read back from the pilots' cgroups; says so in the log when it changes. */
  #notePriority(next: PilotPriority): void {
    if (next.enabled !== this.#priority?.enabled) {
      if (next.enabled) this.#d.logger.info(`pilots run at idle priority (${next.detail})`);
      else
        this.#d.logger.warn(
          `pilots do NOT run at idle priority (${next.detail}); falling back to the kill-based CPU rule (cpu_policy total)`,
        );
    }
    this.#priority = next;
  }

  #report(rec: PassRecord, facts: LoopFacts): StatusReport {
    const { config } = facts;
    const d = this.#d;
    const firstPool = config.pools[0]?.name;
    const pilots = pilotRows(rec.pilots, this.#use?.perPilot ?? new Map(), this.#use?.memory ?? new Map(), firstPool);
    const pools = config.pools.map((p) => ({ name: p.name, share: p.share, image: p.pilot.image, hash: p.hash }));
    return {
      pid: process.pid,
      ...d.identity,
      state: rec.status,
      startedAt: d.startedAt,
      updatedAt: d.clock.now(),
      iterations: facts.iterations,
      lastPassMs: facts.passMs === undefined ? undefined : Math.round(facts.passMs),
      config: {
        source: config.source,
        hash: poolsHash(config.pools),
        mainSleep: config.settings.main_sleep,
        maxDocks: this.#maxDocks.value,
        maxDocksError: this.#maxDocks.error,
        reloadError: facts.reloadError,
        hostPower: config.hostPower.map(({ key, grant, why }) => ({ key, grant, why })),
        warnings: config.warnings,
      },
      engine: { reachable: this.#engineError === undefined, error: this.#engineError },
      idlePriority: this.#priority ?? d.idle,
      io: this.#io,
      cpu: this.#cpuStatus(config),
      controls: rec.controls,
      host: hostSummary(this.#sample, pilots),
      fit: this.#decision?.fit,
      pilots,
      pools: poolSummary(pools, this.#decision?.fit.pools, pilots),
      removals: d.removals.latest(20),
      removalsTotal: d.removals.total,
    };
  }

  /** The CPU rule's give-back as the last decision left it. */
  #cpuStatus(config: LoadedConfig): CpuStatus | undefined {
    const cpu = this.#decision?.cpu;
    if (!cpu) return undefined;
    const failures = Object.entries(this.#decision?.state.pauseFailures ?? {}).map(([id, count]) => ({ id, count }));
    return {
      pace: cpu.pace,
      cooldownSec: config.settings.resume_cooldown,
      paused: cpu.paused,
      resumeAt: cpu.resumeAt,
      pauseFailures: failures.length > 0 ? failures : undefined,
      pauseTries: PAUSE_TRIES,
    };
  }

  /** `started`: pilots this pass did start (fewer than decided when a fill was cut short or a start failed). */
  #log(d: Decision, count: number, started: number, passMs: number | undefined): void {
    const f = d.fit;
    this.#d.logger.verbose('iteration', {
      status: d.status,
      pilots: count,
      cpuBusyPct: this.#sample?.cpu?.busyPct,
      memAvailableMiB:
        this.#sample === undefined ? undefined : Math.round(this.#sample.memory.availableBytes / 2 ** 20),
      memoryLow: f.memoryLow,
      ownerBusyPct: f.ownerBusyPct,
      ownerDisturbed: f.ownerDisturbed,
      toStart: f.toStart,
      started,
      fitting: f.fitting,
      room: f.room,
      blocked: f.blocked,
      overloaded: f.overloaded,
      actions: d.actions.length,
      diskBusy: d.io?.ownerBusy,
      passMs: passMs === undefined ? undefined : Math.round(passMs),
    });
  }
}
