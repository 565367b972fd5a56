/**
 * The owner's disk use apart from the pilots': everything done on the owner's disks less what
 * the pilots' own cgroups were charged, over the interval between two readings.
 */
import { readdir } from 'node:fs/promises';
import { readKernelFile } from './kernel-file.ts';
import { basename, dirname } from 'node:path';
import type { IoReading } from '../core/rules/io.ts';
import { parseBlkioStat } from './blkio-stat.ts';
import { cgroupPlaces } from './cgroup-cpu.ts';
import { parseDiskstats, physicalDisks, SECTOR_BYTES, type DiskStat } from './diskstats.ts';
import { parseIoStat } from './io-stat.ts';
import { parsePressure } from './pressure.ts';
import { parseProcIoWrites } from './proc-io.ts';
import { parseDirtyBytes } from './memory-stat.ts';
import { PilotCgroupLocator, type PilotCgroup } from './pilot-cgroups.ts';

export interface IoMeterOptions {
  readonly procRoot: string;
  readonly cgroupRoot: string;
  readonly cgroupVersion: '1' | '2';
  /** Docker's `--cgroup-parent` of the pilots; undefined: `docker`. */
  readonly parent?: string | undefined;
  /** Names of the block devices the owner uses (`sda`, `nvme0n1`, `loop7`); empty: every physical disk. */
  readonly devices?: readonly string[] | undefined;
}

/** Requests and bytes, reads and writes together, discards left out. */
interface Counts {
  ios: number;
  bytes: number;
  writes: number;
}
interface Snapshot {
  readonly at: number;
  readonly total: Counts;
  readonly pilots: Counts;
  /** Where the pilots' counters were read, and which pilots' cgroups were there. */
  readonly children: string;
}
/** One pilot's write figures: charged to its cgroup, dirtied by its processes, dirty page cache now. */
interface Writes {
  readonly charged: number;
  readonly dirtied: number | undefined;
  readonly dirty: number;
}

const zero = (): Counts => ({ ios: 0, bytes: 0, writes: 0 });
const text = (file: string): Promise<string | undefined> => readKernelFile(file).catch(() => undefined);

/**
 * Reads the owner's disks and the pilots' I/O accounting. On cgroup v1 the total is the root
 * blkio cgroup's recursive counters: they count bios, as the pilots' own files do, where
 * /proc/diskstats counts requests after merging and splitting (seen here: 723 bios of one pilot
 * were 2.4 GiB, several thousand requests), so the two would not subtract. On v2 the total is
 * /proc/diskstats, and the owner's requests are an estimate on the same terms.
 *
 * A reading is cheap (a handful of files, whatever the number of pilots): the pilots together
 * come from their parent cgroup's recursive counters. Which pilot writes how much costs a few
 * files per pilot, so `writers` measures it only when asked (while the owner uses the disk).
 */
export class IoMeter {
  readonly #o: IoMeterOptions;
  readonly #locator: PilotCgroupLocator;
  #prev: Snapshot | undefined;
  #devicesAt = -Infinity;
  /** The pilots' cgroups found from their processes, for the pilots of the last reading. */
  #located: ReadonlyMap<string, PilotCgroup> = new Map();
  #locatedFor = '';
  #locatedAt = -Infinity;
  /** The owner's disks, `major:minor` to name, from the last reading. */
  devices: ReadonlyMap<string, string> = new Map();
  /** The directory whose recursive counters held the pilots' I/O in the last reading; undefined: summed per pilot. */
  parentDir: string | undefined;

  constructor(options: IoMeterOptions) {
    this.#o = options;
    this.#locator = new PilotCgroupLocator(options.procRoot, options.cgroupRoot);
  }

  /**
   * The owner's I/O over the interval since the last call (`pilotWriteBps` empty: see `writers`);
   * undefined on the first call, and for an interval in which a pilot's cgroup came or went (its
   * counters leave the parent's with it).
   * @param pilotIds - Used only without a parent cgroup, to sum the pilots' own counters.
   * @throws when the disks cannot be read.
   */
  async measure(pilotIds: readonly string[], now: number): Promise<IoReading | undefined> {
    let disks: DiskStat[] | undefined;
    if (this.#o.cgroupVersion === '2' || now - this.#devicesAt > DEVICES_REFRESH_MS) {
      disks = parseDiskstats(await readKernelFile(`${this.#o.procRoot}/diskstats`), `${this.#o.procRoot}/diskstats`);
      // disks named in the configuration are taken whatever they are (a loop or device-mapper
      // device among them); by default, the physical disks, so that no byte is counted twice
      const named = this.#o.devices;
      const wanted = named?.length ? disks.filter((d) => named.includes(d.name)) : physicalDisks(disks);
      this.devices = new Map(wanted.map((d) => [d.dev, d.name]));
      this.#devicesAt = now;
    }
    const v1 = this.#o.cgroupVersion === '1';
    await this.#locate(pilotIds, now);
    const parent = this.#parentDir();
    this.parentDir = parent;
    // everything read at once: a pilot writing hundreds of MB/s moves its counters between two reads
    const [ios, bytes, pilots, children, psiText] = await Promise.all([
      v1 ? text(`${this.#o.cgroupRoot}/blkio/blkio.throttle.io_serviced_recursive`) : undefined,
      v1 ? text(`${this.#o.cgroupRoot}/blkio/blkio.throttle.io_service_bytes_recursive`) : undefined,
      parent
        ? this.#counts(parent, true)
        : Promise.all(pilotIds.map((id) => this.#pilotCounts(id).catch(() => undefined))).then((cs) =>
            cs.reduce<Counts>(
              (a, c) => (c ? { ios: a.ios + c.ios, bytes: a.bytes + c.bytes, writes: a.writes + c.writes } : a),
              zero(),
            ),
          ),
      parent
        ? readdir(parent).then(
            // a pilot's cgroup is named by its id: `<id>`, `docker-<id>.scope`, `libpod-<id>`
            (names) =>
              `${parent}:${names
                .filter((n) => /[0-9a-f]{64}/.test(n))
                .sort()
                .join(',')}`,
            () => `${parent}:`,
          )
        : Promise.resolve([...pilotIds].sort().join(',')),
      text(`${this.#o.procRoot}/pressure/io`),
    ]);
    let total = zero();
    if (v1) total = sum(parseBlkioStat(ios ?? ''), parseBlkioStat(bytes ?? ''), this.devices);
    else
      for (const d of disks ?? [])
        if (this.devices.has(d.dev))
          total = {
            ios: total.ios + d.readsCompleted + d.writesCompleted,
            bytes: total.bytes + (d.sectorsRead + d.sectorsWritten) * SECTOR_BYTES,
            writes: total.writes + d.sectorsWritten * SECTOR_BYTES,
          };
    const prev = this.#prev;
    this.#prev = { at: now, total, pilots: pilots ?? zero(), children };
    if (!prev || now <= prev.at || prev.children !== children) return undefined;
    const sec = (now - prev.at) / 1000;
    const p = pilots ?? zero();
    return {
      ownerIops: Math.max(0, total.ios - prev.total.ios - Math.max(0, p.ios - prev.pilots.ios)) / sec,
      ownerBps: Math.max(0, total.bytes - prev.total.bytes - Math.max(0, p.bytes - prev.pilots.bytes)) / sec,
      psiSomeAvg10: psiText === undefined ? undefined : parsePressureSafe(psiText),
      pilotsWriteBps: Math.max(0, p.writes - prev.pilots.writes) / sec,
      pilotWriteBps: new Map(),
    };
  }

  /**
   * What each pilot writes, bytes per second over `windowMs`: the largest of what its cgroup was
   * charged, what its processes dirtied (`/proc/<pid>/io`), and the growth of its dirty page
   * cache (cgroup v1 charges the writeback of buffered writes to the root; a writer that exits
   * within the window leaves no /proc figure), or its dirty and writeback page cache now, as
   * written within a second. A pilot without any figure is left out.
   */
  async writers(
    pilotIds: readonly string[],
    windowMs: number,
    wait: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ): Promise<Map<string, number>> {
    await this.#locate([...new Set([...this.#located.keys(), ...pilotIds])], Date.now());
    const before = await Promise.all(pilotIds.map((id) => this.#writes(id)));
    const t0 = performance.now();
    await wait(windowMs);
    const after = await Promise.all(pilotIds.map((id) => this.#writes(id)));
    const sec = Math.max(windowMs, performance.now() - t0) / 1000;
    const out = new Map<string, number>();
    pilotIds.forEach((id, i) => {
      const a = before[i];
      const b = after[i];
      if (!a || !b) return;
      const dirtied = a.dirtied !== undefined && b.dirtied !== undefined ? Math.max(0, b.dirtied - a.dirtied) : 0;
      // dirty and writeback pages are writes on their way to the disk: a writer in its fsync, or
      // between two bursts, shows there when its counters stand still over a short window
      out.set(
        id,
        Math.max(
          Math.max(0, b.charged - a.charged) / sec,
          dirtied / sec,
          Math.max(0, b.dirty - a.dirty) / sec,
          b.dirty / PENDING_SEC,
        ),
      );
    });
    return out;
  }

  async #writes(id: string): Promise<Writes | undefined> {
    const [c, dirtied, dirty] = await Promise.all([
      this.#pilotCounts(id).catch(() => undefined),
      this.#procWrites(id).catch(() => undefined),
      this.#dirty(id).catch(() => undefined),
    ]);
    if (!c && dirty === undefined) return undefined;
    return { charged: c?.writes ?? 0, dirtied, dirty: dirty ?? 0 };
  }

  /**
   * Finds the pilots' cgroups from their processes (pilot-cgroups.ts), when the pilots changed,
   * and again for pilots not found yet at most every RELOCATE_MS (a scan reads every process's
   * cgroup file; this runs several times a second).
   */
  async #locate(ids: readonly string[], now: number): Promise<void> {
    const key = [...ids].sort().join(',');
    const missing = ids.some((id) => !this.#located.has(id));
    if (key === this.#locatedFor && (!missing || now - this.#locatedAt < RELOCATE_MS)) return;
    this.#located = await this.#locator.locate(ids);
    this.#locatedFor = key;
    this.#locatedAt = now;
  }

  /**
   * The directory whose recursive counters are all the pilots' I/O: the parent the pilots were
   * found in, when every pilot found is a child of one directory of the parent's name (a Docker
   * engine in a container puts `--cgroup-parent` inside its own cgroup, the systemd driver makes
   * it a slice); the configured path while no pilot was found; undefined (each pilot's own
   * counters, summed) without a parent, or with pilots found elsewhere.
   */
  #parentDir(): string | undefined {
    const name = this.#o.parent?.replace(/^\/+|\/+$/g, '');
    if (!name) return undefined;
    const found = new Set([...this.#located.values()].map((c) => (c.ioDir ? dirname(c.ioDir) : '')));
    if (found.size === 0)
      return this.#o.cgroupVersion === '1' ? `${this.#o.cgroupRoot}/blkio/${name}` : `${this.#o.cgroupRoot}/${name}`;
    const [dir] = found;
    return found.size === 1 && dir && basename(dir) === basename(name) ? dir : undefined;
  }

  /** The pilots' own I/O directories (v1 blkio, v2 unified), where they were found or else where the engine usually puts them. */
  ioDirs(ids: readonly string[]): Map<string, string> {
    return new Map(
      ids.flatMap((id) =>
        this.#dirs(id, 'io')
          .slice(0, 1)
          .map((d) => [id, d] as const),
      ),
    );
  }

  /** v1 blkio counters (`_recursive` for a parent) or v2 io.stat of one cgroup directory, over the owner's devices. */
  async #counts(dir: string, recursive: boolean): Promise<Counts | undefined> {
    if (this.#o.cgroupVersion === '1') {
      const suffix = recursive ? '_recursive' : '';
      const ios = await text(`${dir}/blkio.throttle.io_serviced${suffix}`);
      if (ios === undefined) return undefined;
      return sum(
        parseBlkioStat(ios),
        parseBlkioStat((await text(`${dir}/blkio.throttle.io_service_bytes${suffix}`)) ?? ''),
        this.devices,
      );
    }
    const t = await text(`${dir}/io.stat`);
    if (t === undefined) return undefined;
    const c = zero();
    for (const [dev, s] of parseIoStat(t)) {
      if (!this.devices.has(dev)) continue;
      c.ios += s.rios + s.wios;
      c.bytes += s.rbytes + s.wbytes;
      c.writes += s.wbytes;
    }
    return c;
  }

  /**
   * Where a pilot's I/O or memory cgroup is: where it was found from its processes, else (not
   * found: no access to its processes, or gone) the engine's usual layout, under its group or
   * its systemd scope (v2: one tree).
   */
  #dirs(id: string, kind: 'io' | 'memory'): string[] {
    const at = this.#located.get(id);
    const found = kind === 'io' ? at?.ioDir : at?.memoryDir;
    if (found) return [found];
    if (!/^[0-9a-f]{64}$/.test(id)) return [];
    const { root, group, scope } = cgroupPlaces(this.#o.cgroupRoot, id, this.#o.parent);
    const base = this.#o.cgroupVersion === '1' ? `${root}/${kind === 'io' ? 'blkio' : 'memory'}` : root;
    return [`${base}/${group}/${id}`, `${base}/${scope}`];
  }

  async #pilotCounts(id: string): Promise<Counts | undefined> {
    const dirs = this.#dirs(id, 'io');
    for (const dir of dirs) {
      const c = await this.#counts(dir, false);
      if (c) return c;
    }
    return undefined;
  }

  /** The pilot's dirty and writeback page cache, bytes (memory cgroup); undefined where it cannot be read. */
  async #dirty(id: string): Promise<number | undefined> {
    const files = this.#dirs(id, 'memory').map((dir) => `${dir}/memory.stat`);
    for (const file of files) {
      const t = await text(file);
      if (t !== undefined) return parseDirtyBytes(t, file);
    }
    return undefined;
  }

  /** All the pilot's processes' dirtied bytes (`/proc/<pid>/io`); undefined where they cannot be read (no CAP_SYS_PTRACE for another user's processes). */
  async #procWrites(id: string): Promise<number | undefined> {
    const dirs = this.#dirs(id, 'io');
    for (const dir of dirs) {
      const procs = await text(`${dir}/cgroup.procs`);
      if (procs === undefined) continue;
      let bytes = 0;
      for (const pid of procs.split('\n').filter((p) => /^\d+$/.test(p))) {
        const io = await text(`${this.#o.procRoot}/${pid}/io`);
        if (io === undefined) continue; // gone, or not ours to read
        bytes += parseProcIoWrites(io, `${this.#o.procRoot}/${pid}/io`);
      }
      return bytes;
    }
    return undefined;
  }
}

/** How often pilots whose cgroups were not found are looked for again (ms). */
const RELOCATE_MS = 2000;

/** Dirty and writeback bytes count as written within this many seconds. */
const PENDING_SEC = 1;

/** How often the list of disks is read again on cgroup v1 (ms): disks seldom come and go. */
const DEVICES_REFRESH_MS = 60_000;

/** PSI io `some avg10`; undefined when the file is malformed. */
function parsePressureSafe(t: string): number | undefined {
  try {
    return parsePressure(t).some.avg10;
  } catch {
    return undefined;
  }
}

/** v1: requests from one file and bytes from the other, over the owner's devices. */
function sum(
  ios: ReadonlyMap<string, { read: number; write: number }>,
  bytes: ReadonlyMap<string, { read: number; write: number }>,
  devices: ReadonlyMap<string, string>,
): Counts {
  const c = zero();
  for (const [dev, s] of ios) if (devices.has(dev)) c.ios += s.read + s.write;
  for (const [dev, s] of bytes) {
    if (!devices.has(dev)) continue;
    c.bytes += s.read + s.write;
    c.writes += s.write;
  }
  return c;
}
