/**
 * Host readings only the benchmarks use: /proc/stat CPU ticks, cpuacct, a process's CPU time and
 * RSS, /proc/loadavg, the memory hog's printed steps, and the median. The readings and hogs the
 * integration tests share (memory, OOM kills, cgroups, CPU and memory hogs) are in
 * test/support/host.ts; its units are re-exported here, so that a benchmark takes them from bench/.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { CGROUP_ROOT, GiB, MiB } from '../test/support/host.ts';

export { GiB, MiB };

/** Aggregate CPU time from /proc/stat, in clock ticks. `idle` counts iowait as idle. */
export interface CpuTicks {
  readonly busy: number;
  readonly idle: number;
  readonly total: number;
}

export function readCpuTicks(procRoot = '/proc'): CpuTicks {
  const line = readFileSync(`${procRoot}/stat`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('cpu '));
  if (line === undefined) throw new Error('no aggregate cpu line in /proc/stat');
  // user nice system idle iowait irq softirq steal (guest is already counted in user)
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, idle, total };
}

/** Kernel clock ticks per second (USER_HZ); 100 on every Linux that matters. */
export const CLOCK_TICKS = 100;

/** CPU time (ns) of a cgroup v1 cpuacct group, e.g. `plancton` or `docker/<id>`; undefined when absent. */
export function cpuacctNs(group: string): number | undefined {
  try {
    return Number(readFileSync(join(CGROUP_ROOT, 'cpuacct', group, 'cpuacct.usage'), 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** utime + stime of a process, seconds (from /proc/<pid>/stat). */
export function processCpuSec(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // the command name may hold spaces and parentheses: fields start after the last ')'
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Time a process spent on a CPU, seconds, from /proc/<pid>/schedstat (ns resolution); all its threads. */
export function processRunSec(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ns / 1e9;
}

/** VmRSS of a process, bytes. */
export function processRssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** `cat /proc/loadavg`, for the header of every benchmark. */
export function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').trim();
}

/** One line the memory hog (memoryHog in test/support/host.ts) printed. */
export interface HogStep {
  readonly at: number;
  readonly allocated: number;
  readonly available: number;
  readonly done?: boolean;
}

/** Calls `onStep` for every line the memory hog prints. */
export function onHogSteps(hog: ResultPromise, onStep: (s: HogStep) => void): void {
  let rest = '';
  hog.stdout?.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) onStep(JSON.parse(l) as HogStep);
  });
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}
