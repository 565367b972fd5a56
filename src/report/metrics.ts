import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { PILOT_STATES, type DaemonStatus, type HostSample } from '../core/decision.ts';
import type { Identity } from '../core/pilot-shape.ts';
import type { InfluxWriterStats } from './influx-writer.ts';
import type { Removal } from './removals.ts';
import type { Reporter } from './reporter.ts';
import type { StatusReport } from './status.ts';

const DAEMON_STATES: readonly DaemonStatus[] = ['active', 'draining', 'stopping', 'waiting'];
/** Pilot lifetimes are minutes to max_ttl (12 h by default) and beyond. */
export const UPTIME_BUCKETS = [60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800];

export interface MetricsOptions {
  readonly identity: Identity;
  /** The InfluxDB writer's figures, read at each scrape. */
  readonly influx?: (() => InfluxWriterStats) | undefined;
  /** Process metrics (CPU, memory, event-loop lag) as `plancton_process_*` and `plancton_nodejs_*` (default true). */
  readonly processMetrics?: boolean;
}

/**
 * The Prometheus metrics, in a registry of their own (nothing else in the process can add to it).
 * Every metric is `plancton_*` and carries the `hostname` label. Values come from the loop's
 * reports: per-pilot CPU is the report's cgroup figure, no stats stream is opened.
 */
export class PlanctonMetrics implements Reporter {
  readonly registry = new Registry();
  readonly #g = {
    info: this.#gauge('plancton_info', 'Plancton version and instance id (always 1).', ['version', 'instance_id']),
    start: this.#gauge('plancton_start_time_seconds', 'When the daemon started, in seconds since the epoch.'),
    last: this.#gauge(
      'plancton_last_iteration_timestamp_seconds',
      'When the last iteration reported, in seconds since the epoch.',
    ),
    state: this.#gauge(
      'plancton_daemon_state',
      'Daemon state: 1 for the current one of active, draining, stopping, waiting.',
      ['state'],
    ),
    engine: this.#gauge('plancton_engine_reachable', '1 when the container engine answered in the last iteration.'),
    reload: this.#gauge(
      'plancton_config_last_reload_successful',
      '0 when the last configuration reload failed (the previous configuration is kept).',
    ),
    configHash: this.#gauge('plancton_config_info', 'Hash of the pilot-shaping configuration (always 1).', ['hash']),
    maxDocks: this.#gauge('plancton_max_docks', 'Maximum number of pilots (max_docks evaluated on this host).'),
    maxDocksError: this.#gauge(
      'plancton_max_docks_error',
      '1 when the max_docks expression cannot be evaluated (then 0 pilots).',
    ),
    controls: this.#gauge(
      'plancton_controls',
      'Operator controls in force: drain, drain_stop, force_stop (1 when set).',
      ['control'],
    ),
    pilots: this.#gauge(
      'plancton_pilots',
      'Pilots of this instance by engine state (absent while the engine is unreachable).',
      ['state'],
    ),
    pilotCpu: this.#gauge(
      'plancton_pilot_cpu_percent',
      'CPU used by one pilot since the previous iteration, in percent of one CPU (from its cgroup).',
      ['pilot'],
    ),
    pilotMem: this.#gauge(
      'plancton_pilot_memory_bytes',
      'Memory one pilot uses now, in bytes, page cache included (from its cgroup).',
      ['pilot'],
    ),
    ncpus: this.#gauge('plancton_host_cpus', 'CPUs of the host.'),
    busy: this.#gauge(
      'plancton_host_cpu_busy_percent',
      'Share of all host CPUs busy since the previous iteration (0.6 cpu_eff).',
    ),
    share: this.#gauge(
      'plancton_host_cpu_share_percent',
      'Host CPU split in percent of all CPUs: owner (busy minus pilots), pilots, idle.',
      ['part'],
    ),
    memAvail: this.#gauge(
      'plancton_host_memory_available_bytes',
      "The host's available memory as mem_floor is held against: MemAvailable plus the free pages in the kernel's per-CPU lists.",
    ),
    memTotal: this.#gauge('plancton_host_memory_total_bytes', 'MemTotal of the host.'),
    swapTotal: this.#gauge('plancton_host_swap_total_bytes', 'SwapTotal of the host.'),
    swapFree: this.#gauge('plancton_host_swap_free_bytes', 'SwapFree of the host.'),
    psi: this.#gauge(
      'plancton_host_pressure_percent',
      'Pressure stall information: share of time stalled over the window (10, 60, 300 s).',
      ['resource', 'kind', 'window'],
    ),
    fit: this.#gauge(
      'plancton_decision_pilots',
      'The last decision in pilots: running, fitting (idle CPU allows), room (max_docks allows), to_start.',
      ['kind'],
    ),
    blocked: this.#gauge(
      'plancton_decision_blocked',
      '1 for the reason no pilot was started in the last iteration, when none was.',
      ['reason'],
    ),
    pilotShare: this.#gauge(
      'plancton_decision_pilot_share_percent',
      'Host CPU share the running pilots may use, in percent of all CPUs.',
    ),
    overloaded: this.#gauge(
      'plancton_decision_overloaded',
      "1 while the host is busier than the pilots' share plus overload_margin.",
    ),
    poolPilots: this.#gauge(
      'plancton_pool_pilots',
      'Pilots of each pool (a pilot without a pool label: the first pool).',
      ['pool'],
    ),
    poolShare: this.#gauge('plancton_pool_share', "Each pool's share: its weight in the idle CPU.", ['pool']),
    poolMaxDocks: this.#gauge('plancton_pool_max_docks', "Each pool's max_docks evaluated on this host.", ['pool']),
    poolCpus: this.#gauge(
      'plancton_pool_cpus',
      "CPUs allotted to each pool's pilots (cpus_per_dock each), as the last decision counted them.",
      ['pool'],
    ),
    poolCpu: this.#gauge(
      'plancton_pool_cpu_percent',
      "CPU used by each pool's pilots since the previous iteration, in percent of one CPU (sum of their cgroups).",
      ['pool'],
    ),
    poolFit: this.#gauge(
      'plancton_pool_decision_pilots',
      'The last decision for each pool in pilots: fitting (alone in the idle CPU), room (its max_docks allows), to_start.',
      ['pool', 'kind'],
    ),
    poolBlocked: this.#gauge(
      'plancton_pool_decision_blocked',
      '1 for the reason a pool started no pilot in the last iteration, when it started none.',
      ['pool', 'reason'],
    ),
    poolBackoff: this.#gauge(
      'plancton_pool_backoff_level',
      "Each pool's start backoff level (0: none; its pilots found no work this many rounds).",
      ['pool'],
    ),
    influxQueued: this.#gauge(
      'plancton_influxdb_queued_points',
      'Points waiting to be written to InfluxDB.',
      ['target'],
      () => this.#refreshInflux(),
    ),
  };
  readonly #c = {
    iterations: this.#counter('plancton_iterations_total', 'Iterations of the control loop.'),
    removals: this.#counter('plancton_removals_total', 'Pilots removed, by reason.', ['reason']),
    exitCodes: this.#counter(
      'plancton_pilot_exit_codes_total',
      'Removed pilots by exit code (none: never finished on its own).',
      ['code'],
    ),
    oom: this.#counter('plancton_pilot_oom_kills_total', 'Removed pilots that the kernel had killed for memory.'),
    psiTotal: this.#counter(
      'plancton_host_pressure_stall_seconds_total',
      'Pressure stall time of the host since boot, seen since the daemon started.',
      ['resource', 'kind'],
    ),
    influxDropped: this.#counter(
      'plancton_influxdb_dropped_points_total',
      'Points dropped, oldest first, because the InfluxDB queue was full.',
      ['target'],
      () => this.#refreshInflux(),
    ),
    influxWritten: this.#counter(
      'plancton_influxdb_written_points_total',
      'Points written to InfluxDB.',
      ['target'],
      () => this.#refreshInflux(),
    ),
    influxErrors: this.#counter('plancton_influxdb_write_errors_total', 'Failed InfluxDB writes.', ['target'], () =>
      this.#refreshInflux(),
    ),
  };
  readonly #uptime = new Histogram({
    name: 'plancton_pilot_uptime_seconds',
    help: 'Lifetime of removed pilots, from start to finish (or removal).',
    buckets: UPTIME_BUCKETS,
    registers: [this.registry],
  });
  #iterations = 0;
  readonly #states = new Set<string>(DAEMON_STATES);
  #pilotNames = new Set<string>();
  #psiTotals = new Map<string, number>();
  #influxSeen = new Map<string, number>();
  readonly #influx: (() => InfluxWriterStats) | undefined;

  constructor(o: MetricsOptions) {
    this.registry.setDefaultLabels({ hostname: o.identity.hostname });
    // the event-loop delay sampled every 100 ms, not prom-client's 10 ms (measured: 0.76% of a core at 10 ms, 0.49% at 100 ms, for an idle process)
    if (o.processMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'plancton_', eventLoopMonitoringPrecision: 100 });
    this.#g.info.set({ version: o.identity.version, instance_id: o.identity.instance }, 1);
    for (const s of DAEMON_STATES) this.#g.state.set({ state: s }, 0);
    this.#influx = o.influx;
  }

  iteration(r: StatusReport, sample: HostSample | undefined): void {
    const g = this.#g;
    g.start.set(r.startedAt / 1000);
    g.last.set(r.updatedAt / 1000);
    this.#states.add(r.state); // a state added to the daemon later still shows
    for (const s of this.#states) g.state.set({ state: s }, r.state === s ? 1 : 0);
    g.engine.set(r.engine.reachable ? 1 : 0);
    g.reload.set(r.config.reloadError === undefined ? 1 : 0);
    g.configHash.reset();
    g.configHash.set({ hash: r.config.hash }, 1);
    g.maxDocks.set(r.config.maxDocks);
    g.maxDocksError.set(r.config.maxDocksError ? 1 : 0);
    g.controls.set({ control: 'drain' }, r.controls.drain ? 1 : 0);
    g.controls.set({ control: 'drain_stop' }, r.controls.drainStop ? 1 : 0);
    g.controls.set({ control: 'force_stop' }, r.controls.forceStop ? 1 : 0);
    if (r.iterations > this.#iterations) this.#c.iterations.inc(r.iterations - this.#iterations);
    this.#iterations = r.iterations;
    this.#pilots(r);
    this.#host(r, sample);
    this.#decision(r);
    this.#pools(r);
  }

  /** The pools of the report; series of pools no longer configured go away. */
  #pools(r: StatusReport): void {
    const g = this.#g;
    const all = [
      g.poolPilots,
      g.poolShare,
      g.poolMaxDocks,
      g.poolCpus,
      g.poolCpu,
      g.poolFit,
      g.poolBlocked,
      g.poolBackoff,
    ];
    for (const gauge of all) gauge.reset();
    for (const p of r.pools ?? []) {
      const pool = p.name;
      g.poolPilots.set({ pool }, p.pilots);
      g.poolShare.set({ pool }, p.share);
      g.poolCpu.set({ pool }, p.cpuPct);
      if (p.maxDocks !== undefined) g.poolMaxDocks.set({ pool }, p.maxDocks);
      if (p.cpus !== undefined) g.poolCpus.set({ pool }, p.cpus);
      if (p.backoffLevel !== undefined) g.poolBackoff.set({ pool }, p.backoffLevel);
      if (p.toStart !== undefined) g.poolFit.set({ pool, kind: 'to_start' }, p.toStart);
      const fit = r.fit?.pools?.find((f) => f.name === pool);
      if (fit) {
        g.poolFit.set({ pool, kind: 'fitting' }, fit.fitting);
        g.poolFit.set({ pool, kind: 'room' }, fit.room);
      }
      if (p.blocked) g.poolBlocked.set({ pool, reason: p.blocked }, 1);
    }
  }

  removal(r: Removal): void {
    this.#c.removals.inc({ reason: r.reason });
    this.#c.exitCodes.inc({ code: r.exitCode === undefined ? 'none' : String(r.exitCode) });
    if (r.oomKilled) this.#c.oom.inc();
    if (r.uptimeSec !== undefined) this.#uptime.observe(r.uptimeSec);
    if (this.#pilotNames.delete(r.name)) {
      this.#g.pilotCpu.remove({ pilot: r.name });
      this.#g.pilotMem.remove({ pilot: r.name });
    }
  }

  close(): Promise<void> {
    this.registry.clear();
    return Promise.resolve();
  }

  #pilots(r: StatusReport): void {
    const { pilots, pilotCpu, pilotMem } = this.#g;
    if (!r.engine.reachable) {
      // unknown, not zero: the series go away until the engine answers
      pilots.reset();
      pilotCpu.reset();
      pilotMem.reset();
      this.#pilotNames.clear();
      return;
    }
    for (const s of PILOT_STATES) pilots.set({ state: s }, r.pilots.filter((p) => p.state === s).length);
    const seen = new Set<string>();
    for (const p of r.pilots) {
      if (p.cpuPct !== undefined) pilotCpu.set({ pilot: p.name }, p.cpuPct);
      if (p.memBytes !== undefined) pilotMem.set({ pilot: p.name }, p.memBytes);
      if (p.cpuPct !== undefined || p.memBytes !== undefined) seen.add(p.name);
    }
    for (const name of this.#pilotNames) {
      if (seen.has(name)) continue;
      pilotCpu.remove({ pilot: name });
      pilotMem.remove({ pilot: name });
    }
    this.#pilotNames = seen;
  }

  #host(r: StatusReport, sample: HostSample | undefined): void {
    const g = this.#g;
    if (r.host) {
      g.ncpus.set(r.host.ncpus);
      g.memAvail.set(r.host.memAvailableBytes);
      g.memTotal.set(r.host.memTotalBytes);
    }
    if (sample) {
      g.swapTotal.set(sample.memory.swapTotalBytes);
      g.swapFree.set(sample.memory.swapFreeBytes);
    }
    const split = r.host?.cpu;
    if (split) {
      g.busy.set(split.busy);
      for (const part of ['owner', 'pilots', 'idle'] as const) g.share.set({ part }, split[part]);
    }
    for (const resource of ['cpu', 'memory', 'io'] as const) {
      for (const kind of ['some', 'full'] as const) {
        const line = sample?.pressure?.[resource]?.[kind];
        if (!line) continue;
        g.psi.set({ resource, kind, window: '10' }, line.avg10);
        g.psi.set({ resource, kind, window: '60' }, line.avg60);
        g.psi.set({ resource, kind, window: '300' }, line.avg300);
        // the kernel's counter (microseconds since boot) becomes a counter of what was seen since start
        const key = `${resource}/${kind}`;
        const prev = this.#psiTotals.get(key);
        if (prev !== undefined && line.total >= prev)
          this.#c.psiTotal.inc({ resource, kind }, (line.total - prev) / 1e6);
        else this.#c.psiTotal.inc({ resource, kind }, 0);
        this.#psiTotals.set(key, line.total);
      }
    }
  }

  #decision(r: StatusReport): void {
    const f = r.fit;
    if (!f) return;
    const g = this.#g;
    g.fit.set({ kind: 'running' }, f.running);
    g.fit.set({ kind: 'fitting' }, f.fitting);
    g.fit.set({ kind: 'room' }, f.room);
    g.fit.set({ kind: 'to_start' }, f.toStart);
    g.blocked.reset();
    if (f.blocked) g.blocked.set({ reason: f.blocked }, 1);
    g.pilotShare.set(f.pilotSharePct);
    g.overloaded.set(f.overloaded ? 1 : 0);
  }

  /** Read at scrape time (by each InfluxDB metric; repeating it is harmless), so the figures are current between iterations. */
  #refreshInflux(): void {
    if (!this.#influx) return;
    const s = this.#influx();
    this.#g.influxQueued.reset();
    for (const t of s.targets) {
      this.#g.influxQueued.set({ target: t.target }, t.queued);
      for (const [counter, value, key] of [
        [this.#c.influxDropped, t.dropped, 'dropped'],
        [this.#c.influxWritten, t.written, 'written'],
        [this.#c.influxErrors, t.writeErrors, 'errors'],
      ] as const) {
        const id = `${key} ${t.target}`;
        const delta = value - (this.#influxSeen.get(id) ?? 0);
        counter.inc({ target: t.target }, Math.max(0, delta));
        this.#influxSeen.set(id, Math.max(value, this.#influxSeen.get(id) ?? 0));
      }
    }
  }

  #gauge(name: string, help: string, labelNames: string[] = [], collect?: () => void): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.registry], ...(collect ? { collect } : {}) });
  }

  #counter(name: string, help: string, labelNames: string[] = [], collect?: () => void): Counter {
    return new Counter({ name, help, labelNames, registers: [this.registry], ...(collect ? { collect } : {}) });
  }
}
