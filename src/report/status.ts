import type { Controls, DaemonStatus, Decision, HostSample, Pilot, PoolFit } from '../core/decision.ts';
import type { Removal } from './removals.ts';
import type { IoMechanism } from '../core/rules/io.ts';
import { blindText, type IoMetering } from '../host/io-accounting.ts';
import type { IdleKnob } from '../host/pilot-priority.ts';

/** What `status` shows of the disk. */
export interface IoStatus {
  readonly mechanism: IoMechanism;
  readonly detail: string;
  /** How the pilots' I/O is metered, and on which disks the kernel counts it or not. */
  readonly metering?: IoMetering | undefined;
  readonly ownerBusy: boolean;
  readonly ownerIops?: number | undefined;
  readonly ownerBps?: number | undefined;
  /** Pilots paused for the owner's I/O (names). */
  readonly paused: readonly string[];
  /** Cgroups limited now (throttle): pilot ids, or `parent`. */
  readonly limited: readonly string[];
  readonly error?: string | undefined;
}

/** What the daemon writes to `status.json` each iteration, and `plancton status` shows. */
export interface StatusReport {
  readonly pid: number;
  readonly version: string;
  readonly instance: string;
  readonly hostname: string;
  readonly state: DaemonStatus;
  readonly startedAt: number;
  readonly updatedAt: number;
  readonly iterations: number;
  /** How long the last pass took (ms), from its host reading to its last engine call. */
  readonly lastPassMs?: number | undefined;
  readonly config: {
    readonly source: string;
    readonly hash: string;
    /** Seconds between iterations, so that readers can tell a stalled loop. */
    readonly mainSleep: number;
    readonly maxDocks: number;
    readonly maxDocksError?: string | undefined;
    readonly reloadError?: string | undefined;
    /**
     * Settings of the configuration in force that give pilots power over the host (each also among
     * `warnings`), so that `status` names them for as long as they are in force, not only at start.
     */
    readonly hostPower?:
      ReadonlyArray<{ readonly key: string; readonly grant: string; readonly why: string }> | undefined;
    /** The warnings of the configuration in force: host power, a failed fetch of the config URL (the last good text kept), unknown keys... */
    readonly warnings?: readonly string[] | undefined;
  };
  readonly engine: { readonly reachable: boolean; readonly error?: string | undefined };
  /**
   * Whether the pilots run at idle priority, as read back from their cgroups (before any pilot
   * was found there: what was set up at start, or why not); `knob`: the group that holds the idle
   * setting (the pilots' parent, or a dind engine's own cgroup) and the groups above it.
   */
  readonly idlePriority?:
    { readonly enabled: boolean; readonly detail: string; readonly knob?: IdleKnob | undefined } | undefined;
  /** The disk: the mechanism detected at start (and why), whether the owner uses the disk now, what is cut back. */
  readonly io?: IoStatus | undefined;
  /** The CPU rule's give-back: its pace, the pilots paused for the owner's CPU, when they may be resumed, failed pauses. */
  readonly cpu?: CpuStatus | undefined;
  readonly controls: Controls;
  readonly host?:
    | {
        readonly ncpus: number;
        readonly cpuBusyPct?: number | undefined;
        /** MemAvailable plus the free pages in the kernel's per-CPU lists (host/zoneinfo.ts): what mem_floor is held against. */
        readonly memAvailableBytes: number;
        /** Of memAvailableBytes, the per-CPU lists' part; absent when they could not be read. */
        readonly memPerCpuFreeBytes?: number | undefined;
        readonly memTotalBytes: number;
        /** The host's CPU split into owner, pilots and idle, made once with the record (cpuSplit): reporters read it. */
        readonly cpu?: CpuSplit | undefined;
      }
    | undefined;
  readonly fit?: Decision['fit'] | undefined;
  readonly pilots: ReadonlyArray<{
    readonly id: string;
    readonly name: string;
    readonly state: string;
    readonly startedAt?: number | undefined;
    readonly cpuPct?: number | undefined;
    readonly memBytes?: number | undefined;
    readonly configHash: string;
    /** Its pool (a pilot without a pool label: the first pool). */
    readonly pool?: string | undefined;
  }>;
  /** Each pool: its share, image, pilots and the CPU they hold and use, and its part of the decision. */
  readonly pools?: readonly PoolStatus[] | undefined;
  readonly removals: readonly Removal[];
  readonly removalsTotal: number;
}

/** The CPU rule's pauses in `status`. */
export interface CpuStatus {
  readonly pace: 'proportional' | 'one';
  readonly cooldownSec: number;
  readonly paused: number;
  /** When the paused pilots may be resumed if the owner stays calm; absent: the owner is not calm now. */
  readonly resumeAt?: number | undefined;
  /** Pilots whose pause failed, with how many times in a row; at `pauseTries` such a pilot is vacated instead. */
  readonly pauseFailures?: ReadonlyArray<{ readonly id: string; readonly count: number }> | undefined;
  readonly pauseTries: number;
}

/** The `cpu:` line of `plancton status`. */
export function cpuLine(c: CpuStatus, now: number): string {
  const when = (t: number): string =>
    `${new Date(t).toISOString().slice(11, 19)} UTC (in ${age(Math.max(0, (t - now) / 1000))})`;
  const held =
    c.paused === 0
      ? 'no pilot paused for the owner'
      : `${c.paused} pilot(s) paused for the owner; ${c.resumeAt === undefined ? 'not resuming: the owner is not calm' : `resume ${c.resumeAt <= now ? 'now' : `at ${when(c.resumeAt)}`} if the owner stays calm`}`;
  const failures = c.pauseFailures?.length
    ? `; pause FAILED: ${c.pauseFailures.map((f) => `${f.id.slice(0, 12)} x${f.count}`).join(', ')} (tried again, vacated after ${c.pauseTries} in a row)`
    : '';
  return `${held} (${c.pace} pace, resume_cooldown ${c.cooldownSec} s)${failures}`;
}

/** One pool in `status`. */
export interface PoolStatus {
  readonly name: string;
  readonly share: number;
  readonly image: string;
  /** Hash of the pool's pilot shape (its pilots' config-hash label). */
  readonly hash: string;
  readonly maxDocks?: number | undefined;
  /** Its pilots now (from the rows), the CPUs they are allotted and the CPU they used (sum of their cgroup figures, percent of one CPU). */
  readonly pilots: number;
  readonly cpus?: number | undefined;
  readonly cpuPct: number;
  readonly toStart?: number | undefined;
  readonly blocked?: string | undefined;
  readonly backoffLevel?: number | undefined;
}

/** The pools' lines of the status, from the configuration's pools, the decision's per-pool fit and the pilots' rows. */
export function poolSummary(
  pools: ReadonlyArray<{
    readonly name: string;
    readonly share: number;
    readonly image: string;
    readonly hash: string;
  }>,
  fits: readonly PoolFit[] | undefined,
  rows: StatusReport['pilots'],
): PoolStatus[] {
  return pools.map((pool) => {
    const fit = fits?.find((f) => f.name === pool.name);
    const mine = rows.filter((r) => r.pool === pool.name);
    return {
      ...pool,
      maxDocks: fit?.maxDocks,
      pilots: mine.length,
      cpus: fit?.cpus,
      cpuPct: mine.reduce((sum, r) => sum + (r.cpuPct ?? 0), 0),
      toStart: fit?.toStart,
      blocked: fit?.blocked,
      backoffLevel: fit?.backoffLevel,
    };
  });
}

/** The host's CPU in percent of all its CPUs. */
export interface CpuSplit {
  readonly busy: number;
  readonly owner: number;
  readonly pilots: number;
  readonly idle: number;
}

/**
 * The host's CPU in percent of all its CPUs: the pilots' part is the sum of their cgroup CPU use
 * (each in percent of one CPU) over the CPU count; the owner's is the rest of the busy part.
 */
export function cpuSplit(r: Pick<StatusReport, 'host' | 'pilots'>): CpuSplit | undefined {
  const busy = r.host?.cpuBusyPct;
  if (busy === undefined || !r.host || r.host.ncpus <= 0) return undefined;
  const pilotsSum = r.pilots.reduce((sum, p) => sum + (p.cpuPct ?? 0), 0);
  const pilots = Math.min(100, pilotsSum / r.host.ncpus);
  return { busy, owner: Math.max(0, busy - pilots), pilots, idle: Math.max(0, 100 - busy) };
}

/** The host part of the status, with its CPU split over `pilots` (their rows). */
export function hostSummary(h: HostSample | undefined, pilots: StatusReport['pilots'] = []): StatusReport['host'] {
  if (!h) return undefined;
  const host = {
    ncpus: h.ncpus,
    cpuBusyPct: h.cpu?.busyPct,
    memAvailableBytes: h.memory.availableBytes,
    ...(h.memory.perCpuFreeBytes === undefined ? {} : { memPerCpuFreeBytes: h.memory.perCpuFreeBytes }),
    memTotalBytes: h.memory.totalBytes,
  };
  return { ...host, cpu: cpuSplit({ host, pilots }) };
}

/** The pilots' rows; `firstPool`: the pool of a pilot without a pool label (none: rows without pools). */
export function pilotRows(
  pilots: readonly Pilot[],
  cpu: ReadonlyMap<string, number>,
  mem: ReadonlyMap<string, number> = new Map(),
  firstPool?: string,
): StatusReport['pilots'] {
  return pilots.map((p) => ({
    id: p.id,
    name: p.name,
    state: p.state,
    startedAt: p.startedAt,
    cpuPct: cpu.get(p.id),
    memBytes: mem.get(p.id),
    configHash: p.configHash,
    ...(firstPool === undefined ? {} : { pool: p.pool ?? firstPool }),
  }));
}

function age(sec: number): string {
  if (sec < 120) return `${Math.round(sec)}s`;
  if (sec < 7200) return `${Math.round(sec / 60)}m`;
  if (sec < 172800) return `${Math.round(sec / 3600)}h`;
  return `${Math.round(sec / 86400)}d`;
}

const pct = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(1)}%`);

/**
 * Why the daemon behind `r` is not healthy, or undefined when it is: alive, its loop reported
 * within three iterations (at least 60 s), and the engine answered.
 */
export function unhealthyReason(r: StatusReport | undefined, alive: boolean, now: number): string | undefined {
  if (!alive || !r) return 'the daemon is not running';
  const limitMs = Math.max(3 * r.config.mainSleep, 60) * 1000;
  if (now - r.updatedAt > limitMs) return `no iteration for ${Math.round((now - r.updatedAt) / 1000)} s`;
  if (!r.engine.reachable) return `engine unreachable: ${r.engine.error ?? ''}`;
  return undefined;
}

function ioLine(io: IoStatus): string {
  const owner =
    io.ownerIops === undefined
      ? ''
      : `, owner ${io.ownerIops.toFixed(0)} req/s ${((io.ownerBps ?? 0) / 2 ** 20).toFixed(1)} MiB/s`;
  const cut = io.paused.length
    ? `; paused for the owner's I/O: ${io.paused.join(', ')}`
    : io.limited.length
      ? `; limited: ${io.limited.length} cgroup(s)`
      : '';
  const m = io.metering;
  const blind = m ? blindText(m) : '';
  if (m && m.counted.length === 0 && blind)
    return `BLIND: Plancton cannot see the pilots' I/O (${blind}), so nothing is ${io.mechanism === 'throttle' ? 'throttled' : io.mechanism === 'weight' ? 'weighed' : 'paused'} for the owner's disk use; metered by ${m.how}`;
  const metered = m
    ? `; metered by ${m.how}: counted on ${m.counted.join(', ')}${m.switchedOn.length ? ` (switched on by Plancton for ${m.switchedOn.join(', ')}, with a no-op rule)` : ''}${blind ? `; NOT counted on ${blind}` : ''}`
    : '';
  return `${io.mechanism} (${io.detail})${metered}${owner}, owner ${io.ownerBusy ? 'BUSY' : 'quiet'}${cut}${io.error ? `; ${io.error}` : ''}`;
}

/** Most warnings `status` lists; a configuration with more (unknown keys, say) has them counted. */
const MAX_WARNINGS = 20;

/**
 * The warnings lines of `plancton status`: first the settings that give pilots power over the host,
 * then the other warnings of the configuration in force (a failed fetch of the config URL among them).
 */
export function warningLines(config: StatusReport['config']): string[] {
  const power = config.hostPower ?? [];
  const lines = power.map((p) => `HOST POWER: ${p.key} (${p.grant}): ${p.why}`);
  const others = (config.warnings ?? []).filter((w) => !w.startsWith('host power: '));
  lines.push(...others.slice(0, MAX_WARNINGS));
  if (others.length > MAX_WARNINGS) lines.push(`and ${others.length - MAX_WARNINGS} more warnings`);
  return lines.map((l) => `warning:  ${l}`);
}

function poolLine(p: PoolStatus): string {
  const cpus = p.cpus === undefined ? '' : `, ${p.cpus.toFixed(2).replace(/\.?0+$/, '')} CPUs allotted`;
  const backoff = p.backoffLevel ? `; backing off (level ${p.backoffLevel})` : '';
  const blocked = p.blocked ? `; not starting: ${p.blocked}` : '';
  return `pool:     ${p.name} (share ${p.share}, ${p.image}): ${p.pilots} of max ${p.maxDocks ?? '-'}${cpus}, using ${pct(p.cpuPct)} of a CPU${backoff}${blocked}`;
}

/** The human table of `plancton status`. */
export function formatStatus(r: StatusReport, now: number, alive: boolean): string {
  const lines = [
    `daemon:   ${alive ? r.state : 'not running'}${alive ? ` (pid ${r.pid}${r.lastPassMs === undefined ? '' : `, last pass ${r.lastPassMs} ms`})` : ` (last seen ${age((now - r.updatedAt) / 1000)} ago as ${r.state})`}`,
    `instance: ${r.instance} on ${r.hostname}, version ${r.version}, up ${age((now - r.startedAt) / 1000)}`,
    `config:   ${r.config.source} (pilot hash ${r.config.hash})${r.config.reloadError ? `; last reload FAILED, kept previous: ${r.config.reloadError}` : ''}`,
    ...warningLines(r.config),
    `engine:   ${r.engine.reachable ? 'reachable' : `UNREACHABLE: ${r.engine.error ?? ''}`}`,
    `priority: ${r.idlePriority ? `${r.idlePriority.enabled ? 'idle' : 'NOT idle'} (${r.idlePriority.detail})` : '-'}`,
    `disk:     ${r.io ? ioLine(r.io) : 'not governed'}`,
    ...(r.cpu ? [`cpu:      ${cpuLine(r.cpu, now)}`] : []),
    `host:     ${r.host ? `${r.host.ncpus} CPUs, ${pct(r.host.cpuBusyPct)} busy (owner ${pct(r.fit?.ownerBusyPct)}${r.fit?.ownerDisturbed ? ', last clean reading: this one was mostly Plancton starting or stopping pilots' : ''}), ${(r.host.memAvailableBytes / 2 ** 30).toFixed(1)} of ${(r.host.memTotalBytes / 2 ** 30).toFixed(1)} GiB available${r.host.memPerCpuFreeBytes === undefined ? '' : ` (${Math.round(r.host.memPerCpuFreeBytes / 2 ** 20)} MiB of it free in the per-CPU lists)`}` : '-'}`,
    `pilots:   ${r.pilots.length} of max ${r.config.maxDocks}${r.config.maxDocksError ? ` (${r.config.maxDocksError})` : ''}${r.fit?.blocked ? `; not starting: ${r.fit.blocked}` : ''}`,
  ];
  for (const pool of r.pools ?? []) lines.push(poolLine(pool));
  const flags = Object.entries(r.controls)
    .filter(([, v]) => v)
    .map(([k]) => k);
  if (flags.length) lines.push(`controls: ${flags.join(', ')}`);
  if (r.pilots.length) {
    const rows = [['ID', 'NAME', 'STATE', 'AGE', 'CPU', 'MEM', 'POOL']];
    const mib = (b: number | undefined): string => (b === undefined ? '-' : `${(b / 2 ** 20).toFixed(1)}MiB`);
    for (const p of r.pilots)
      rows.push([
        p.id.slice(0, 12),
        p.name,
        p.state,
        p.startedAt ? age((now - p.startedAt) / 1000) : '-',
        pct(p.cpuPct),
        mib(p.memBytes),
        p.pool ?? '-',
      ]);
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
    lines.push(
      '',
      ...rows.map((row) =>
        row
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      ),
    );
  }
  return lines.join('\n');
}
