/**
 * The disk, as a third resource: when the owner does I/O, the pilots' I/O is cut back; when the
 * owner has been quiet for a while, it is given back. Pure: the shell measures, this decides.
 */

/**
 * How the pilots' I/O is cut back, as detected at start (cheapest first):
 * `weight` - the lowest I/O weight on the pilots' parent cgroup, set once (the scheduler does the rest);
 * `throttle` - a bandwidth limit on the pilots while the owner does I/O, lifted when quiet;
 * `pause` - the pilots that write are paused (frozen) while the owner does I/O, resumed when quiet;
 * `none` - nothing can be done here (the reason is in status); the owner's I/O is still measured.
 */
export type IoMechanism = 'weight' | 'throttle' | 'pause' | 'none';

export interface IoPolicy {
  readonly mechanism: IoMechanism;
  /** Requests per second of the owner's own (at which the owner counts as using the disk); 0: the rule is off. */
  readonly ownerIops: number;
  /** PSI io `some avg10` (percent) over which any owner I/O counts as using the disk; 0: off. */
  readonly psiPct: number;
  /** How long (ms) the owner must stay under the release line before the pilots get the disk back. */
  readonly quietMs: number;
  /** Bytes per second a pilot must write to be paused (a pilot that only computes is left alone). */
  readonly pilotWriteBps: number;
}

/** One reading of the disks over an interval, the pilots' own I/O taken out. */
export interface IoReading {
  /**
   * Requests per second completed on the owner's disks that were not the pilots' (reads and
   * writes, discards apart); the shell hands the median of its last few readings, so that one
   * burst of other work does not count.
   */
  readonly ownerIops: number;
  /** All pilots' writes charged to their cgroups, bytes per second, the most of the last few readings (undefined: unknown). */
  readonly pilotsWriteBps?: number | undefined;
  /** Bytes per second of the same. */
  readonly ownerBps: number;
  /** PSI io `some avg10` of the host, when the kernel has PSI. */
  readonly psiSomeAvg10?: number | undefined;
  /** What each running pilot writes, bytes per second, by container id (absent: unknown, never paused for I/O). */
  readonly pilotWriteBps: ReadonlyMap<string, number>;
}

/** The I/O rule's memory between passes. */
export interface IoState {
  /** Since when the owner counts as using the disk (with hysteresis); undefined: quiet. */
  readonly busySince?: number | undefined;
  /** Since when the owner, still counted busy, has stayed under the release line. */
  readonly calmSince?: number | undefined;
  /** Pilots paused for the owner's I/O (not for CPU), by id. */
  readonly paused?: readonly string[] | undefined;
}

export interface IoInput {
  readonly now: number;
  readonly policy: IoPolicy;
  /** Undefined on the first pass, or when the disks could not be read: no evidence, nothing changes. */
  readonly reading: IoReading | undefined;
  readonly state: IoState;
  /** Pilots running now (not paused), by id. */
  readonly running: readonly string[];
  /** Pilots paused now (for whatever reason), by id. */
  readonly pausedNow: readonly string[];
}

export interface IoOutcome {
  readonly state: IoState;
  /** The owner counts as using the disk. */
  readonly ownerBusy: boolean;
  /** `throttle`: the pilots' I/O must be limited now (false: lifted). */
  readonly limit: boolean;
  /** `pause`: pilots to pause now, heaviest writer first. */
  readonly pause: readonly string[];
  /** Pilots paused for I/O to resume now. */
  readonly resume: readonly string[];
}

/** The owner counts as quiet again under this share of `ownerIops` (and of `psiPct`). */
export const IO_RELEASE_FACTOR = 0.5;

/** How often the shell reads the disks (ms), while the pilots write little. */
export const IO_POLL_MS = 250;
/** How often while the pilots write heavily (ms): every request the owner makes then waits behind theirs. */
export const IO_POLL_FAST_MS = 100;

/**
 * The pilots write heavily: together at least the rate at which one pilot is paused for the
 * owner (`pilotWriteBps`). Then the owner's every synced write waits behind theirs (20-40 times
 * slower here) until they are paused.
 */
export function pilotsWriteHeavily(r: IoReading, p: IoPolicy): boolean {
  return p.ownerIops > 0 && r.pilotsWriteBps !== undefined && r.pilotsWriteBps >= p.pilotWriteBps;
}

/**
 * How long the shell waits before its next reading: IO_POLL_FAST_MS while the pilots write
 * heavily (seeing the owner one period sooner is worth more than the reading costs: a few cgroup
 * files), else IO_POLL_MS.
 */
export function ioPollMs(r: IoReading | undefined, p: IoPolicy): number {
  return r !== undefined && pilotsWriteHeavily(r, p) ? IO_POLL_FAST_MS : IO_POLL_MS;
}

/**
 * Whether this reading says the owner is using the disk: its rate (the shell's median of a few
 * readings) at the line, or PSI over its line with some owner I/O. The latest reading alone is
 * not enough, even while the pilots write heavily: tried, it froze them about 0.1 s sooner for a
 * large read but not for synced writes, and on a host with frequent other I/O it paused them far
 * more often (docs/benchmarks.md, section 6).
 */
export function ownerUsesDisk(r: IoReading, p: IoPolicy): boolean {
  if (p.ownerIops <= 0) return false;
  if (r.ownerIops >= p.ownerIops) return true;
  return p.psiPct > 0 && r.ownerIops > 0 && r.psiSomeAvg10 !== undefined && r.psiSomeAvg10 > p.psiPct;
}

/** Under the release line: the owner's I/O is well below what made it busy. */
function underRelease(r: IoReading, p: IoPolicy): boolean {
  const psiCalm = p.psiPct <= 0 || r.psiSomeAvg10 === undefined || r.psiSomeAvg10 <= p.psiPct * IO_RELEASE_FACTOR;
  return r.ownerIops < p.ownerIops * IO_RELEASE_FACTOR && psiCalm;
}

/**
 * Decides the pilots' I/O for one pass. Busy starts at once on one reading over the line; it ends
 * only after `quietMs` under the release line (half of it), so a burst of commits does not make
 * the pilots flap. With `pause`, every running pilot that writes at least `pilotWriteBps` is
 * paused, heaviest first; pilots that only compute run on. All pilots paused for I/O resume
 * together when the owner is quiet.
 */
export function ioDecision(input: IoInput): IoOutcome {
  const { now, policy, reading, running } = input;
  const present = new Set([...running, ...input.pausedNow]);
  const pausedNow = new Set(input.pausedNow);
  // a pilot resumed or removed by someone else is no longer ours to resume
  const held = (input.state.paused ?? []).filter((id) => present.has(id) && pausedNow.has(id));
  let { busySince, calmSince } = input.state;
  if (reading !== undefined && policy.ownerIops > 0) {
    if (ownerUsesDisk(reading, policy)) {
      busySince ??= now;
      calmSince = undefined;
    } else if (busySince !== undefined) {
      if (!underRelease(reading, policy)) calmSince = undefined;
      else {
        calmSince ??= now;
        if (now - calmSince >= policy.quietMs) busySince = calmSince = undefined;
      }
    }
  } else if (policy.ownerIops <= 0) busySince = calmSince = undefined;
  const busy = busySince !== undefined;
  const pause: string[] = [];
  if (busy && policy.mechanism === 'pause' && reading !== undefined) {
    const writers = running
      .filter((id) => !pausedNow.has(id))
      .map((id) => ({ id, bps: reading.pilotWriteBps.get(id) }))
      .filter((w): w is { id: string; bps: number } => w.bps !== undefined && w.bps >= policy.pilotWriteBps)
      .sort((a, b) => b.bps - a.bps || (a.id < b.id ? -1 : 1));
    pause.push(...writers.map((w) => w.id));
  }
  const resume = busy ? [] : held;
  const paused = busy ? [...held, ...pause] : [];
  return {
    state: { busySince, calmSince, paused: paused.length > 0 ? paused : undefined },
    ownerBusy: busy,
    limit: busy && policy.mechanism === 'throttle',
    pause,
    resume,
  };
}
