/** `/proc/diskstats`, pure: the I/O meter does the reading. */
import { ProcParseError } from '../core/errors.ts';

/** One device's cumulative counters (Documentation/admin-guide/iostats.rst). */
export interface DiskStat {
  /** `major:minor`, the key the cgroup I/O files use. */
  readonly dev: string;
  readonly name: string;
  readonly readsCompleted: number;
  readonly sectorsRead: number;
  readonly writesCompleted: number;
  readonly sectorsWritten: number;
  /** Milliseconds the device had I/O in flight. */
  readonly ioTicksMs: number;
  /** Discards (kernel 4.18+; 0 before): counted apart, since deleting a file is not the owner waiting on the disk. */
  readonly discardsCompleted: number;
}

/** Sectors in diskstats are always 512 bytes, whatever the device's own sector size. */
export const SECTOR_BYTES = 512;

/**
 * Parses `/proc/diskstats`: `major minor name` then 11 (kernel < 4.18), 15 (< 5.5) or 17 counters.
 * @param file - Named in errors.
 * @throws ProcParseError on a line with fewer than 14 fields or a counter that is not a number.
 */
export function parseDiskstats(text: string, file = '/proc/diskstats'): DiskStat[] {
  const out: DiskStat[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length === 1 && f[0] === '') continue;
    if (f.length < 14) throw new ProcParseError(file, `expected at least 14 fields in "${line.trim()}"`);
    const n = f.map((v, i) => (i === 2 ? 0 : Number(v)));
    if (n.some((v, i) => i !== 2 && !(Number.isInteger(v) && v >= 0)))
      throw new ProcParseError(file, `malformed counter in "${line.trim()}"`);
    out.push({
      dev: `${f[0]}:${f[1]}`,
      name: f[2] ?? '',
      readsCompleted: n[3] ?? 0,
      sectorsRead: n[5] ?? 0,
      writesCompleted: n[7] ?? 0,
      sectorsWritten: n[9] ?? 0,
      ioTicksMs: n[12] ?? 0,
      discardsCompleted: n[14] ?? 0,
    });
  }
  return out;
}

/** Virtual and stacked devices: their I/O also shows on the disks under them (or never reaches one). */
const NOT_A_DISK = /^(loop|ram|zram|dm-|md|nbd|sr|fd)\d*/;

/**
 * The physical disks among `stats`: no loop, RAM, optical or stacked (device-mapper, md) device,
 * and no partition (`sda1` of `sda`, `nvme0n1p1` of `nvme0n1`), so that no byte is counted twice.
 */
export function physicalDisks(stats: readonly DiskStat[]): DiskStat[] {
  const names = new Set(stats.map((s) => s.name));
  const isPartition = (name: string): boolean => {
    const base = /^(.+?)p?\d+$/.exec(name)?.[1];
    return base !== undefined && names.has(base);
  };
  return stats.filter((s) => !NOT_A_DISK.test(s.name) && !isPartition(s.name));
}
