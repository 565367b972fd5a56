/**
 * Host readings and load generators shared by the host-back integration tests and the benchmarks
 * (`bench/`, whose own readings are in bench/host.ts): /proc and cgroup counters read directly,
 * CPU and memory hogs run as plain host processes (the "owner"), never through Plancton's own code.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';

export const GiB = 2 ** 30;
export const MiB = 2 ** 20;

/** The host's cgroup filesystem (cgroup v1 here: one directory per controller). */
export const CGROUP_ROOT = '/sys/fs/cgroup';

/** The page size, as `getconf` gives it (independent of Plancton's reading of /proc/self/auxv). */
export const PAGE_SIZE = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim());

/**
 * The free memory as Plancton's memory rule counts it: `MemAvailable` plus the free pages in the
 * kernel's per-CPU lists (the `count:` lines of /proc/zoneinfo, which MemAvailable leaves out:
 * src/host/zoneinfo.ts), `MemAvailable` alone as `memAvailableBytes`, and `MemTotal`, bytes.
 */
export function readMemory(procRoot = '/proc'): {
  availableBytes: number;
  memAvailableBytes: number;
  totalBytes: number;
} {
  const text = readFileSync(`${procRoot}/meminfo`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  const memAvailableBytes = kb('MemAvailable');
  return { availableBytes: memAvailableBytes + perCpuFree(procRoot), memAvailableBytes, totalBytes: kb('MemTotal') };
}

function perCpuFree(procRoot: string): number {
  let pages = 0;
  for (const m of readFileSync(`${procRoot}/zoneinfo`, 'utf8').matchAll(/^\s+count:\s+(\d+)$/gm)) pages += Number(m[1]);
  return pages * PAGE_SIZE;
}

/** The kernel's count of OOM kills since boot (`oom_kill` in /proc/vmstat); undefined on old kernels. */
export function oomKills(procRoot = '/proc'): number | undefined {
  const m = /^oom_kill (\d+)$/m.exec(readFileSync(`${procRoot}/vmstat`, 'utf8'));
  return m ? Number(m[1]) : undefined;
}

/**
 * Removes a parent cgroup from every v1 controller once its containers are gone, and with
 * `children` the groups one level down first (the pilots' groups an engine killed with its
 * container leaves); quiet for those absent or still in use.
 */
export function removeCgroup(name: string, children = false): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === 'docker') throw new Error(`refusing to remove cgroup ${name}`);
  let controllers: string[] = [];
  try {
    controllers = readdirSync(CGROUP_ROOT);
  } catch {
    return;
  }
  for (const c of controllers) {
    const dir = join(CGROUP_ROOT, c, name);
    let below: string[] = [];
    try {
      if (children) below = readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [e.name] : []));
    } catch {
      continue; // absent
    }
    for (const d of [...below.map((b) => join(dir, b)), dir]) {
      try {
        rmdirSync(d);
      } catch {
        // absent, or containers still in it
      }
    }
  }
}

/** {@link removeCgroup} with the groups one level down. */
export const removeCgroupTree = (name: string): void => removeCgroup(name, true);

/**
 * The cgroup path of a process (e.g. `/plancton/<id>`) in the v1 hierarchy holding `controller`,
 * or with `controller` '' in the v2 unified hierarchy (the `0::` line).
 */
export function cgroupOf(pid: number, controller: string): string | undefined {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const [, controllers = '', ...path] = line.split(':');
    if (controller === '' ? line.startsWith('0::') : controllers.split(',').includes(controller)) return path.join(':');
  }
  return undefined;
}

/** A group of host processes that can be ended together; `end()` is idempotent and never throws. */
export interface Hog {
  readonly procs: readonly ResultPromise[];
  end(): Promise<void>;
}

function hogOf(procs: ResultPromise[]): Hog {
  return {
    procs,
    async end(): Promise<void> {
      for (const p of procs) p.kill('SIGKILL');
      await Promise.allSettled(procs);
    },
  };
}

/** `n` busy loops on the host (the owner wanting the CPU). */
export function cpuHog(n: number): Hog {
  return hogOf(Array.from({ length: n }, () => execa('sh', ['-c', 'while :; do :; done'], { reject: false })));
}

/**
 * One host process (the owner) that allocates `bytes` and touches every page, in `stepBytes`
 * steps `stepMs` apart, then holds it until SIGTERM, on which it exits 0. It prints one JSON line
 * per step, `{"at": ms, "allocated": bytes, "available": bytes as readMemory() counts}`, and a last one with
 * `"done": true`. An OOM kill shows as the process ending by SIGKILL before it was asked to end.
 */
export function memoryHog(bytes: number, stepBytes = 64 * MiB, stepMs = 0): ResultPromise {
  const script = `
    const fs = require('node:fs');
    const [total, step, pause, pageSize] = process.argv.slice(1).map(Number);
    // MemAvailable plus the per-CPU lists' free pages, as readMemory() counts
    const avail = () =>
      Number(/^MemAvailable:\\s+(\\d+)/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))[1]) * 1024 +
      [...fs.readFileSync('/proc/zoneinfo', 'utf8').matchAll(/^\\s+count:\\s+(\\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0) * pageSize;
    const held = [];
    let allocated = 0;
    process.on('SIGTERM', () => process.exit(0));
    const next = () => {
      if (allocated >= total) {
        console.log(JSON.stringify({ at: Date.now(), done: true, allocated, available: avail() }));
        setInterval(() => held.length, 60000);
        return;
      }
      const b = Buffer.allocUnsafe(Math.min(step, total - allocated));
      b.fill(1);
      held.push(b);
      allocated += b.length;
      console.log(JSON.stringify({ at: Date.now(), allocated, available: avail() }));
      setTimeout(next, pause);
    };
    next();`;
  return execa('node', ['-e', script, String(bytes), String(stepBytes), String(stepMs), String(PAGE_SIZE)], {
    reject: false,
  });
}
