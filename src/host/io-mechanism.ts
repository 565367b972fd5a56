/**
 * Which mechanism can cut the pilots' I/O back on this host, detected once at start, cheapest
 * first, each taken only where it reaches the pilots' writes.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IoMechanism } from '../core/rules/io.ts';
import { exists } from './kernel-file.ts';

export type IoMechanismWanted = 'auto' | 'weight' | 'throttle' | 'pause' | 'off';

export interface IoSetup {
  readonly mechanism: IoMechanism;
  /** What was found and set, for the start-up log and status. */
  readonly detail: string;
}

export interface IoDetectOptions {
  readonly cgroupRoot: string;
  /** Where sysfs is (`/sys`): the disks' I/O schedulers. */
  readonly sysRoot: string;
  readonly cgroupVersion: '1' | '2';
  /** The pilots' parent cgroup (one directory name); undefined: none (pilots under `docker`). */
  readonly parent: string | undefined;
  readonly wanted: IoMechanismWanted;
  /** The owner's disks by name (`vda`, `sda`). */
  readonly disks: readonly string[];
}

/** BFQ's and io.weight's lowest weight. */
export const LOWEST_IO_WEIGHT = 1;

/** The active scheduler of a disk, the bracketed one in `queue/scheduler`; undefined when unreadable. */
export async function activeScheduler(sysRoot: string, disk: string): Promise<string | undefined> {
  const t = await readFile(join(sysRoot, 'block', disk, 'queue', 'scheduler'), 'utf8').catch(() => undefined);
  return t === undefined ? undefined : (/\[([^\]]+)\]/.exec(t)?.[1] ?? t.trim());
}

/**
 * `auto` walks the ladder weight -> throttle -> pause. On cgroup v2 both weight and io.max reach
 * every write (writeback is charged to the cgroup that dirtied the page). On cgroup v1 neither
 * does: background writeback of buffered writes is charged to the root cgroup, and a throttle
 * on fsync'd writes makes the owner wait behind the ext4 journal (both measured, see
 * docs/io.md); `auto` then pauses the writers. An explicit choice is taken where it is possible
 * at all, with the reason it may not reach every write in `detail`.
 */
export async function detectIoMechanism(o: IoDetectOptions): Promise<IoSetup> {
  if (o.wanted === 'off') return { mechanism: 'none', detail: 'off (io_mechanism off)' };
  const schedulers = await Promise.all(
    o.disks.map(async (d) => `${d}:${(await activeScheduler(o.sysRoot, d)) ?? '?'}`),
  );
  const sched = schedulers.join(' ') || 'no disk';
  const notes: string[] = [];
  if (o.wanted === 'auto' || o.wanted === 'weight') {
    const w = await tryWeight(o, schedulers);
    if (w.ok && (o.wanted === 'weight' || o.cgroupVersion === '2'))
      return {
        mechanism: 'weight',
        detail: `${w.detail}${o.cgroupVersion === '1' ? '; cgroup v1: background writeback is charged to the root cgroup, so buffered writes escape the weight' : ''}`,
      };
    notes.push(
      w.ok
        ? `weight: ${w.detail} set, but cgroup v1 charges background writeback to the root cgroup`
        : `weight: ${w.detail}`,
    );
    if (o.wanted === 'weight')
      return { mechanism: 'none', detail: `no I/O weight possible (${w.detail}; schedulers ${sched})` };
  }
  if (o.wanted === 'auto' || o.wanted === 'throttle') {
    const t = await canThrottle(o);
    if (t.ok && (o.wanted === 'throttle' || o.cgroupVersion === '2')) {
      return {
        mechanism: 'throttle',
        detail: `${t.detail}${o.cgroupVersion === '1' ? "; cgroup v1: reaches direct and fsync'd writes only, and a throttled fsync holds the journal the owner waits on" : ''}`,
      };
    }
    notes.push(t.ok ? 'throttle: cgroup v1 charges background writeback to the root cgroup' : `throttle: ${t.detail}`);
    if (o.wanted === 'throttle') return { mechanism: 'none', detail: `no I/O throttle possible (${t.detail})` };
  }
  // pausing freezes the writer whatever the kernel charges the writeback to; the engine does it
  return {
    mechanism: 'pause',
    detail: `the writing pilots are paused while the owner uses the disk (schedulers ${sched}${notes.length ? `; ${notes.join('; ')}` : ''})`,
  };
}

async function tryWeight(o: IoDetectOptions, schedulers: readonly string[]): Promise<{ ok: boolean; detail: string }> {
  if (o.parent === undefined) return { ok: false, detail: "no pilots' parent cgroup (cgroup_parent empty)" };
  const bfq = schedulers.length > 0 && schedulers.every((s) => s.endsWith(':bfq'));
  try {
    if (o.cgroupVersion === '1') {
      if (!bfq)
        return {
          ok: false,
          detail: `the disks' scheduler is not BFQ (${schedulers.join(' ') || 'no disk'}), the only v1 scheduler that honours blkio weights`,
        };
      const dir = join(o.cgroupRoot, 'blkio', o.parent);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'blkio.bfq.weight'), `${LOWEST_IO_WEIGHT}\n`);
      return { ok: true, detail: `${dir}/blkio.bfq.weight=${LOWEST_IO_WEIGHT}` };
    }
    const dir = join(o.cgroupRoot, o.parent);
    if (bfq && (await exists(join(dir, 'io.bfq.weight')))) {
      await writeFile(join(dir, 'io.bfq.weight'), `default ${LOWEST_IO_WEIGHT}\n`);
      return { ok: true, detail: `${dir}/io.bfq.weight=default ${LOWEST_IO_WEIGHT}` };
    }
    const qos = await readFile(join(o.cgroupRoot, 'io.cost.qos'), 'utf8').catch(() => '');
    if (/\benable=1\b/.test(qos) && (await exists(join(dir, 'io.weight')))) {
      await writeFile(join(dir, 'io.weight'), `default ${LOWEST_IO_WEIGHT}\n`);
      return { ok: true, detail: `${dir}/io.weight=default ${LOWEST_IO_WEIGHT} (io.cost)` };
    }
    return {
      ok: false,
      detail: `neither BFQ (schedulers ${schedulers.join(' ') || 'none'}) nor io.cost is active, so no scheduler honours io weights`,
    };
  } catch (err) {
    return { ok: false, detail: `cannot set the weight: ${(err as Error).message}` };
  }
}

async function canThrottle(o: IoDetectOptions): Promise<{ ok: boolean; detail: string }> {
  if (o.cgroupVersion === '1') {
    const file = join(o.cgroupRoot, 'blkio', 'blkio.throttle.write_bps_device');
    return (await exists(file))
      ? {
          ok: true,
          detail:
            "blkio.throttle.{read,write}_bps_device on each pilot while the owner uses the disk (v1 limits are per cgroup, a parent's do not reach its children)",
        }
      : { ok: false, detail: `no ${file}` };
  }
  if (o.parent === undefined) return { ok: false, detail: "no pilots' parent cgroup (cgroup_parent empty)" };
  const controllers = await readFile(join(o.cgroupRoot, o.parent, 'cgroup.controllers'), 'utf8').catch(() => '');
  return controllers.split(/\s+/).includes('io')
    ? { ok: true, detail: `io.max on ${join(o.cgroupRoot, o.parent)} while the owner uses the disk` }
    : { ok: false, detail: `no io controller in ${join(o.cgroupRoot, o.parent)}` };
}
