/**
 * The owner's disk use apart from the pilots': everything done on the owner's disks less what
 * the pilots' own cgroups were charged, over the interval between two readings.
 */
import { readFile } from 'node:fs/promises';
import type { IoReading } from '../core/rules/io.ts';
import { parseBlkioStat } from './blkio-stat.ts';
import { cgroupPlaces } from './cgroup-cpu.ts';
import { parseDiskstats, physicalDisks, SECTOR_BYTES } from './diskstats.ts';
import { parseIoStat } from './io-stat.ts';
import { parsePressure } from './pressure.ts';
import { parseProcIoWrites } from './proc-io.ts';
import { parseDirtyBytes } from './memory-stat.ts';

export interface IoMeterOptions {
  readonly procRoot: string;
  readonly cgroupRoot: string;
  readonly cgroupVersion: '1' | '2';
  /** Docker's `--cgroup-parent` of the pilots; undefined: `docker`. */
  readonly parent?: string | undefined;
  /** Names of the disks the owner uses (`sda`, `nvme0n1`); empty: every physical disk. */
  readonly devices?: readonly string[] | undefined;
}

/** Requests and bytes, reads and writes together, discards left out. */
interface Counts { ios: number; bytes: number; writes: number }
interface Snapshot { readonly at: number; readonly total: Counts; readonly pilots: Map<string, Counts>; readonly procWrites: Map<string, number>; readonly dirty: Map<string, number> }

const zero = (): Counts => ({ ios: 0, bytes: 0, writes: 0 });
const text = (file: string): Promise<string | undefined> => readFile(file, 'utf8').catch(() => undefined);

/**
 * Reads, once per call, the owner's disks and each pilot's I/O accounting. On cgroup v1 the total
 * is the root blkio cgroup's recursive counters: they count bios, as the pilots' own files do,
 * where /proc/diskstats counts requests after merging and splitting (seen here: 723 bios of one
 * pilot were 2.4 GiB, several thousand requests), so the two would not subtract. On v2 the total
 * is /proc/diskstats, and the owner's requests are an estimate on the same terms.
 */
export class IoMeter {
  readonly #o: IoMeterOptions;
  #prev: Snapshot | undefined;
  /** The owner's disks, `major:minor` to name, from the last reading. */
  devices: ReadonlyMap<string, string> = new Map();

  constructor(options: IoMeterOptions) {
    this.#o = options;
  }

  /** A reading over the interval since the last call; undefined on the first call. @throws when the disks cannot be read. */
  async measure(pilotIds: readonly string[], now: number): Promise<IoReading | undefined> {
    const disks = physicalDisks(parseDiskstats((await readFile(`${this.#o.procRoot}/diskstats`, 'utf8')), `${this.#o.procRoot}/diskstats`));
    const wanted = this.#o.devices?.length ? disks.filter((d) => this.#o.devices?.includes(d.name)) : disks;
    this.devices = new Map(wanted.map((d) => [d.dev, d.name]));
    // everything read at once: a pilot writing hundreds of MB/s moves its counters between two reads
    const [ios, bytes, pilotCounts, procCounts, dirtyCounts] = await Promise.all([
      this.#o.cgroupVersion === '1' ? text(`${this.#o.cgroupRoot}/blkio/blkio.throttle.io_serviced_recursive`) : undefined,
      this.#o.cgroupVersion === '1' ? text(`${this.#o.cgroupRoot}/blkio/blkio.throttle.io_service_bytes_recursive`) : undefined,
      Promise.all(pilotIds.map((id) => this.#pilotCounts(id))),
      Promise.all(pilotIds.map((id) => this.#procWrites(id))),
      Promise.all(pilotIds.map((id) => this.#dirty(id))),
    ]);
    let total = zero();
    if (this.#o.cgroupVersion === '1') total = sum(parseBlkioStat(ios ?? ''), parseBlkioStat(bytes ?? ''), this.devices);
    else for (const d of wanted) total = { ios: total.ios + d.readsCompleted + d.writesCompleted, bytes: total.bytes + (d.sectorsRead + d.sectorsWritten) * SECTOR_BYTES, writes: total.writes + d.sectorsWritten * SECTOR_BYTES };
    const pilots = new Map<string, Counts>();
    const procWrites = new Map<string, number>();
    const dirty = new Map<string, number>();
    pilotIds.forEach((id, i) => {
      const b = dirtyCounts[i];
      if (b !== undefined) dirty.set(id, b);
      const c = pilotCounts[i];
      if (c) pilots.set(id, c);
      const w = procCounts[i];
      if (w !== undefined) procWrites.set(id, w);
    });
    const psi = await text(`${this.#o.procRoot}/pressure/io`).then((t) => (t === undefined ? undefined : parsePressure(t).some.avg10), () => undefined);
    const prev = this.#prev;
    this.#prev = { at: now, total, pilots, procWrites, dirty };
    if (!prev || now <= prev.at) return undefined;
    const sec = (now - prev.at) / 1000;
    let pilotIos = 0;
    let pilotBytes = 0;
    const pilotWriteBps = new Map<string, number>();
    for (const [id, c] of pilots) {
      const before = prev.pilots.get(id) ?? zero(); // a pilot new since the last reading did all its I/O in the interval
      pilotIos += Math.max(0, c.ios - before.ios);
      pilotBytes += Math.max(0, c.bytes - before.bytes);
      const charged = Math.max(0, c.writes - before.writes);
      const dirtied = Math.max(0, (procWrites.get(id) ?? 0) - (prev.procWrites.get(id) ?? 0));
      // page cache it dirtied and the flusher has not written yet (a short-lived writer leaves no /proc/<pid>/io)
      const pending = Math.max(0, (dirty.get(id) ?? 0) - (prev.dirty.get(id) ?? 0));
      pilotWriteBps.set(id, Math.max(charged, prev.procWrites.has(id) ? dirtied : 0, pending) / sec);
    }
    return {
      ownerIops: Math.max(0, total.ios - prev.total.ios - pilotIos) / sec,
      ownerBps: Math.max(0, total.bytes - prev.total.bytes - pilotBytes) / sec,
      psiSomeAvg10: psi,
      pilotWriteBps,
    };
  }

  async #pilotCounts(id: string): Promise<Counts | undefined> {
    const { root, group, scope } = cgroupPlaces(this.#o.cgroupRoot, id, this.#o.parent);
    if (this.#o.cgroupVersion === '1') {
      for (const dir of [`${root}/blkio/${group}/${id}`, `${root}/blkio/${scope}`]) {
        const ios = await text(`${dir}/blkio.throttle.io_serviced`);
        if (ios === undefined) continue;
        return sum(parseBlkioStat(ios), parseBlkioStat((await text(`${dir}/blkio.throttle.io_service_bytes`)) ?? ''), this.devices);
      }
      return undefined;
    }
    for (const dir of [`${root}/${group}/${id}`, `${root}/${scope}`]) {
      const t = await text(`${dir}/io.stat`);
      if (t === undefined) continue;
      const c = zero();
      for (const [dev, s] of parseIoStat(t)) {
        if (!this.devices.has(dev)) continue;
        c.ios += s.rios + s.wios;
        c.bytes += s.rbytes + s.wbytes;
        c.writes += s.wbytes;
      }
      return c;
    }
    return undefined;
  }

  /** The pilot's dirty and writeback page cache, bytes (memory cgroup); undefined where it cannot be read. */
  async #dirty(id: string): Promise<number | undefined> {
    const { root, group, scope } = cgroupPlaces(this.#o.cgroupRoot, id, this.#o.parent);
    const files = this.#o.cgroupVersion === '1' ? [`${root}/memory/${group}/${id}/memory.stat`, `${root}/memory/${scope}/memory.stat`] : [`${root}/${group}/${id}/memory.stat`, `${root}/${scope}/memory.stat`];
    for (const file of files) {
      const t = await text(file);
      if (t !== undefined) return parseDirtyBytes(t, file);
    }
    return undefined;
  }

  /** All the pilot's processes' dirtied bytes (`/proc/<pid>/io`); undefined where they cannot be read (no CAP_SYS_PTRACE for another user's processes). */
  async #procWrites(id: string): Promise<number | undefined> {
    const { root, group, scope } = cgroupPlaces(this.#o.cgroupRoot, id, this.#o.parent);
    const dirs = this.#o.cgroupVersion === '1' ? [`${root}/blkio/${group}/${id}`, `${root}/blkio/${scope}`] : [`${root}/${group}/${id}`, `${root}/${scope}`];
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

/** v1: requests from one file and bytes from the other, over the owner's devices. */
function sum(ios: ReadonlyMap<string, { read: number; write: number }>, bytes: ReadonlyMap<string, { read: number; write: number }>, devices: ReadonlyMap<string, string>): Counts {
  const c = zero();
  for (const [dev, s] of ios) if (devices.has(dev)) c.ios += s.read + s.write;
  for (const [dev, s] of bytes) {
    if (!devices.has(dev)) continue;
    c.bytes += s.read + s.write;
    c.writes += s.write;
  }
  return c;
}
