/**
 * `/proc/stat` CPU counters and the busy share between two readings.
 * Pure: the sampler does the reading.
 */
import { ProcParseError } from '../core/errors.ts';
import type { CpuUsage } from '../core/decision.ts';

/** Jiffies per second as /proc/stat reports them: USER_HZ is 100 on every Linux ABI in use. */
export const USER_HZ = 100;

/** Cumulative time in jiffies (1/USER_HZ s) one CPU, or all together, spent in each state. */
export interface CpuTimes {
  /** Includes `guest`: the kernel adds guest time to user time. */
  readonly user: number;
  /** Includes `guest_nice`. */
  readonly nice: number;
  readonly system: number;
  readonly idle: number;
  readonly iowait: number;
  readonly irq: number;
  readonly softirq: number;
  readonly steal: number;
}

/** The CPU lines of one `/proc/stat` reading. */
export interface ProcStat {
  /** The aggregate `cpu` line. */
  readonly total: CpuTimes;
  /** The `cpuN` lines by N; offline CPUs have no line. */
  readonly cpus: ReadonlyMap<number, CpuTimes>;
}

const FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;
type Field = (typeof FIELDS)[number];

/** user, nice, system, idle: what every kernel since 2.4 prints; later fields default to 0. */
const MIN_FIELDS = 4;

/**
 * Parses the `cpu` and `cpuN` lines of `/proc/stat`; other lines are ignored.
 * `guest` and `guest_nice` are dropped because they are already counted in `user` and `nice`.
 * @param file - Named in errors.
 * @throws ProcParseError when there is no `cpu ` line or a CPU line has a malformed counter.
 */
export function parseProcStat(text: string, file = '/proc/stat'): ProcStat {
  let total: CpuTimes | undefined;
  const cpus = new Map<number, CpuTimes>();
  for (const line of text.split('\n')) {
    const match = /^cpu(\d*)\s+(.*)$/.exec(line);
    if (match === null) continue;
    const [, index = '', rest = ''] = match;
    const times = parseTimes(rest.trim().split(/\s+/), file, line);
    if (index === '') total = times;
    else cpus.set(Number(index), times);
  }
  if (total === undefined) throw new ProcParseError(file, 'no aggregate "cpu " line');
  return { total, cpus };
}

/**
 * Parses the aggregate `cpu ` line of `/proc/stat` only (the first line on every kernel), for the
 * watches that read it several times a second: on a host of 256 CPUs the per-CPU lines are most of
 * the text, and the owner's share needs none of them.
 * @throws ProcParseError as parseProcStat does.
 */
export function parseCpuTotal(text: string, file = '/proc/stat'): CpuTimes {
  const start = text.startsWith('cpu ') ? 0 : text.indexOf('\ncpu ') + 1;
  if (start === 0 && !text.startsWith('cpu ')) throw new ProcParseError(file, 'no aggregate "cpu " line');
  const end = text.indexOf('\n', start);
  const line = text.slice(start, end === -1 ? undefined : end);
  return parseTimes(line.slice(4).trim().split(/\s+/), file, line);
}

function parseTimes(values: readonly string[], file: string, line: string): CpuTimes {
  if (values.length < MIN_FIELDS) {
    throw new ProcParseError(file, `expected at least ${MIN_FIELDS} counters in "${line}"`);
  }
  const times: Record<Field, number> = {
    user: 0,
    nice: 0,
    system: 0,
    idle: 0,
    iowait: 0,
    irq: 0,
    softirq: 0,
    steal: 0,
  };
  FIELDS.forEach((field, i) => {
    const value = values[i];
    if (value === undefined) return;
    if (!/^\d+$/.test(value)) throw new ProcParseError(file, `malformed ${field} counter "${value}" in "${line}"`);
    times[field] = Number(value);
  });
  return times;
}

/**
 * Busy shares between two readings, `busy = total - idle - iowait`.
 * Per-CPU shares cover only the CPUs present in both readings (hotplug), in ascending CPU number.
 * Counters that went backwards (iowait does on NO_HZ kernels) count as 0 for the interval.
 * `intervalSec` is the interval's jiffies divided by the number of CPUs in `cur`.
 */
export function cpuUsage(prev: ProcStat, cur: ProcStat): CpuUsage {
  const total = busyShare(prev.total, cur.total);
  const perCpuBusyPct: number[] = [];
  for (const n of [...cur.cpus.keys()].sort((a, b) => a - b)) {
    const before = prev.cpus.get(n);
    const after = cur.cpus.get(n);
    if (before !== undefined && after !== undefined) perCpuBusyPct.push(busyShare(before, after).pct);
  }
  const ncpus = Math.max(1, cur.cpus.size);
  return { busyPct: total.pct, perCpuBusyPct, intervalSec: total.jiffies / USER_HZ / ncpus };
}

/** The busy share of all CPUs together between two readings, and the jiffies of the interval (all CPUs). */
export function busyShare(prev: CpuTimes, cur: CpuTimes): { pct: number; jiffies: number } {
  let jiffies = 0;
  for (const field of FIELDS) jiffies += delta(prev, cur, field);
  const busy = jiffies - delta(prev, cur, 'idle') - delta(prev, cur, 'iowait');
  // Multiply first so that exact ratios (101 of 200) stay exact in floating point.
  return { pct: jiffies === 0 ? 0 : (busy * 100) / jiffies, jiffies };
}

function delta(prev: CpuTimes, cur: CpuTimes, field: Field): number {
  return Math.max(0, cur[field] - prev[field]);
}
