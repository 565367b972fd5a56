import type { HostSample, Pressure } from '../core/decision.ts';
import type { Removal } from './removals.ts';
import type { StatusReport } from './status.ts';

/** One InfluxDB point; `timestamp` is in nanoseconds, as a decimal string (beyond a double's precision). */
export interface Point {
  readonly measurement: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, number | string | boolean>>;
  readonly timestamp: string;
}

/**
 * Every series the writer writes, with its tags and fields: the single list that the writer,
 * the documentation and the dashboard tests read. The first three are Plancton 0.6's, unchanged:
 * numbers are written as floats and `started`/`killed` as `True`/`False`, as 0.6 wrote them, so
 * that 0.6 dashboards and databases keep working.
 */
export const SERIES = {
  daemon: { tags: ['hostname'], fields: ['uptime', 'containers', 'status'] },
  measurement: { tags: ['hostname'], fields: ['cpu_eff'] },
  container: { tags: ['hostname', 'started', 'killed'], fields: ['uptime'] },
  host_cpu: { tags: ['hostname'], fields: ['busy', 'owner', 'pilots', 'idle', 'ncpus'] },
  host_memory: {
    tags: ['hostname'],
    fields: ['available_bytes', 'total_bytes', 'swap_total_bytes', 'swap_free_bytes'],
  },
  host_pressure: { tags: ['hostname', 'resource', 'kind'], fields: ['avg10', 'avg60', 'avg300', 'total_us'] },
  pilot_cpu: { tags: ['hostname', 'pilot'], fields: ['cpu_pct', 'state'] },
  pilot_memory: { tags: ['hostname', 'pilot'], fields: ['bytes'] },
  removal: {
    tags: ['hostname', 'reason'],
    fields: ['pilot', 'id', 'exit_code', 'oom_killed', 'uptime', 'started', 'killed'],
  },
  decision: {
    tags: ['hostname'],
    fields: [
      'running',
      'fitting',
      'room',
      'to_start',
      'blocked',
      'pilot_share_pct',
      'overloaded',
      'max_docks',
      'owner_busy_pct',
      'owner_disturbed',
    ],
  },
  pool: {
    tags: ['hostname', 'pool'],
    fields: ['share', 'pilots', 'max_docks', 'cpus', 'cpu_pct', 'to_start', 'blocked', 'backoff_level'],
  },
  daemon_stats: {
    tags: ['hostname'],
    fields: [
      'iterations',
      'removals_total',
      'engine_reachable',
      'reload_ok',
      'drain',
      'influx_queued_points',
      'influx_dropped_points',
    ],
  },
} as const satisfies Record<string, { tags: readonly string[]; fields: readonly string[] }>;

export type SeriesName = keyof typeof SERIES;

/** Nanosecond timestamp of `ms`, plus `seq` nanoseconds so that events in the same millisecond stay apart. */
export function nanoTimestamp(ms: number, seq = 0): string {
  return `${Math.trunc(ms)}${String(Math.trunc(seq) % 1_000_000).padStart(6, '0')}`;
}

/** Numbers InfluxDB can store: a NaN or an infinity would make the whole batch fail. */
function finite(
  fields: Record<string, number | string | boolean | undefined>,
): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || (typeof v === 'number' && !Number.isFinite(v))) continue;
    out[k] = v;
  }
  return out;
}

function point(
  measurement: SeriesName,
  tags: Record<string, string>,
  fields: Record<string, number | string | boolean | undefined>,
  timestamp: string,
): Point | undefined {
  const f = finite(fields);
  // InfluxDB stores tags sorted by key and parses sorted ones fastest
  const sorted = Object.fromEntries(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return Object.keys(f).length ? { measurement, tags: sorted, fields: f, timestamp } : undefined;
}

/** Running pilots, as 0.6's `containers` counted them. */
export const runningPilots = (r: StatusReport): number => r.pilots.filter((p) => p.state === 'running').length;

function pressurePoints(hostname: string, pressure: HostSample['pressure'], ts: string): Point[] {
  const out: Point[] = [];
  for (const resource of ['cpu', 'memory', 'io'] as const) {
    const p: Pressure | undefined = pressure?.[resource];
    if (!p) continue;
    for (const kind of ['some', 'full'] as const) {
      const line = p[kind];
      if (!line) continue;
      const pt = point(
        'host_pressure',
        { hostname, resource, kind },
        { avg10: line.avg10, avg60: line.avg60, avg300: line.avg300, total_us: line.total },
        ts,
      );
      if (pt) out.push(pt);
    }
  }
  return out;
}

/** What the writer itself adds to `daemon_stats`. */
export interface WriterStats {
  readonly queued: number;
  readonly dropped: number;
}

/** The points of one iteration. While the engine is unreachable, `daemon` carries no `containers` (0.6 wrote only the status). */
export function iterationPoints(r: StatusReport, sample: HostSample | undefined, writer?: WriterStats): Point[] {
  const ts = nanoTimestamp(r.updatedAt);
  const hostname = r.hostname;
  const tags = { hostname };
  // made once with the record, as every figure reporters write
  const split = r.host?.cpu;
  const points: Array<Point | undefined> = [
    point(
      'daemon',
      tags,
      {
        uptime: (r.updatedAt - r.startedAt) / 1000,
        containers: r.engine.reachable ? runningPilots(r) : undefined,
        status: r.state,
      },
      ts,
    ),
    point('measurement', tags, { cpu_eff: r.host?.cpuBusyPct }, ts),
    split ? point('host_cpu', tags, { ...split, ncpus: r.host?.ncpus }, ts) : undefined,
    r.host
      ? point(
          'host_memory',
          tags,
          {
            available_bytes: r.host.memAvailableBytes,
            total_bytes: r.host.memTotalBytes,
            swap_total_bytes: sample?.memory.swapTotalBytes,
            swap_free_bytes: sample?.memory.swapFreeBytes,
          },
          ts,
        )
      : undefined,
    ...pressurePoints(hostname, sample?.pressure, ts),
    ...pilotPoints(r, ts),
    decisionPoint(r, ts),
    ...poolPoints(r, ts),
    point(
      'daemon_stats',
      tags,
      {
        iterations: r.iterations,
        removals_total: r.removalsTotal,
        engine_reachable: r.engine.reachable,
        reload_ok: r.config.reloadError === undefined,
        drain: r.controls.drain || r.controls.drainStop,
        influx_queued_points: writer?.queued,
        influx_dropped_points: writer?.dropped,
      },
      ts,
    ),
  ];
  return points.filter((p): p is Point => p !== undefined);
}

/** Each pilot's CPU and memory, when its cgroup gave a figure. */
function pilotPoints(r: StatusReport, ts: string): Array<Point | undefined> {
  const hostname = r.hostname;
  return [
    ...r.pilots.map((p) =>
      p.cpuPct === undefined
        ? undefined
        : point('pilot_cpu', { hostname, pilot: p.name }, { cpu_pct: p.cpuPct, state: p.state }, ts),
    ),
    ...r.pilots.map((p) =>
      p.memBytes === undefined
        ? undefined
        : point('pilot_memory', { hostname, pilot: p.name }, { bytes: p.memBytes }, ts),
    ),
  ];
}

/** One point per pool: its share, pilots and CPU, and its part of the decision. */
function poolPoints(r: StatusReport, ts: string): Array<Point | undefined> {
  return (r.pools ?? []).map((p) =>
    point(
      'pool',
      { hostname: r.hostname, pool: p.name },
      {
        share: p.share,
        pilots: p.pilots,
        max_docks: p.maxDocks,
        cpus: p.cpus,
        cpu_pct: p.cpuPct,
        to_start: p.toStart,
        blocked: p.blocked ?? 'none',
        backoff_level: p.backoffLevel,
      },
      ts,
    ),
  );
}

/** The decision's arithmetic, as the pass made it. */
function decisionPoint(r: StatusReport, ts: string): Point | undefined {
  const fit = r.fit;
  if (!fit) return undefined;
  return point(
    'decision',
    { hostname: r.hostname },
    {
      running: fit.running,
      fitting: fit.fitting,
      room: fit.room,
      to_start: fit.toStart,
      blocked: fit.blocked ?? 'none',
      pilot_share_pct: fit.pilotSharePct,
      overloaded: fit.overloaded,
      max_docks: r.config.maxDocks,
      owner_busy_pct: fit.ownerBusyPct,
      owner_disturbed: fit.ownerDisturbed ?? false,
    },
    ts,
  );
}

const pyBool = (b: boolean): string => (b ? 'True' : 'False');

/** The points of one removal: 0.6's `container` and the richer `removal`. `seq` keeps same-millisecond removals apart. */
export function removalPoints(r: Removal, hostname: string, seq = 0): Point[] {
  const ts = nanoTimestamp(r.removedAt, seq);
  const points: Array<Point | undefined> = [
    // 0.6 wrote uptime 0 for a pilot that never started
    point(
      'container',
      { hostname, started: pyBool(r.started), killed: pyBool(r.killed) },
      { uptime: r.uptimeSec ?? 0 },
      ts,
    ),
    point(
      'removal',
      { hostname, reason: r.reason },
      {
        pilot: r.name,
        id: r.id,
        exit_code: r.exitCode,
        oom_killed: r.oomKilled,
        uptime: r.uptimeSec,
        started: r.started,
        killed: r.killed,
      },
      ts,
    ),
  ];
  return points.filter((p): p is Point => p !== undefined);
}
