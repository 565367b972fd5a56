import type { HostSample, Policy, PolicyState } from '../decision.ts';

/** What the CPU readings say, in percent of the whole host. */
export interface CpuView {
  /** The share the active (unpaused) pilots may use: 100 * their CPUs (PilotLoad) / ncpus. */
  readonly pilotSharePct: number;
  /** The overload margin in force on this host (marginOf). */
  readonly marginPct: number;
  /** Busy minus the pilots' own use (or the owner's figure kept from a clean reading); equals busy when the pilots' use is unknown. */
  readonly ownerBusyPct: number | undefined;
  /** How far over the line the host is (positive: over); undefined without a reading. */
  readonly excessPct: number | undefined;
}

/**
 * What the active (unpaused) pilots are allotted: `cpus`, each pool's pilots (at most its
 * max_docks) times its cpus_per_dock; `largest`, the CPUs of the biggest pilot a pool makes.
 */
export interface PilotLoad {
  readonly cpus: number;
  readonly largest: number;
}

/** The CPU share of `cpus` CPUs, in percent of the host. */
export function sharePct(cpus: number, ncpus: number): number {
  return (100 * cpus) / Math.max(1, ncpus);
}

/**
 * How far (percent points) the owner may reach into the pilots' share before the host counts as
 * overloaded. `overload_margin`; under the owner policy at least half of one pilot's share (of the
 * biggest pilot, with pools of different sizes): pilots
 * at idle priority give the owner its CPU back at once, so an owner's background load must not hold
 * a whole slot idle on a small host (1-CPU pilots on 2 CPUs: 25 points, so a second pilot still
 * starts with the owner at 9%). A pilot then fits, and stays unpaused, while it would get at least
 * about half of its CPU.
 */
export function marginOf(policy: Policy, ncpus: number, pilotCpus: number): number {
  if (policy.cpuPolicy === 'total') return policy.overloadMarginPct;
  return Math.max(policy.overloadMarginPct, sharePct(pilotCpus, ncpus) / 2);
}

/**
 * Above this share of a reading's interval spent by the daemon on its own engine work (starting,
 * stopping, pausing pilots, pulling), the reading is mostly that work: dockerd, containerd, the
 * shims and runc run outside any pilot cgroup, so it reads as the owner's CPU (measured: 71-94%
 * busy on 2 CPUs in the second after 4 starts, with the host otherwise at 15%).
 */
export const OWN_WORK_SHARE_MAX = 0.2;

/** How long an owner figure from a clean reading may stand in for disturbed ones. */
export const OWNER_READING_MAX_AGE_MS = 60_000;

/** The owner's CPU as measured: total busy minus what the pilots and Plancton itself used. */
export function measuredOwnerPct(
  host: HostSample,
  pilotsBusyPct: number | undefined,
  selfBusyPct: number | undefined,
): number | undefined {
  return host.cpu === undefined ? undefined : Math.max(0, host.cpu.busyPct - (pilotsBusyPct ?? 0) - (selfBusyPct ?? 0));
}

/**
 * The owner's CPU to decide by. A reading disturbed by the daemon's own engine work can only
 * over-count the owner, so it is capped by the last clean figure while that is at most
 * OWNER_READING_MAX_AGE_MS old: a lower reading still counts at once (the owner went away), a
 * higher one waits for the next clean reading (the idle cgroup shields the owner meanwhile).
 * Past that age the reading is taken as it is, which errs on the owner's side.
 * `kept` is the clean figure to remember in PolicyState.
 */
export function ownerReading(
  measured: number | undefined,
  ownWorkShare: number | undefined,
  last: PolicyState['owner'],
  now: number,
): { pct: number | undefined; disturbed: boolean; kept: PolicyState['owner'] } {
  if (measured === undefined) return { pct: undefined, disturbed: false, kept: last };
  if ((ownWorkShare ?? 0) <= OWN_WORK_SHARE_MAX)
    return { pct: measured, disturbed: false, kept: { pct: measured, at: now } };
  if (last === undefined || now - last.at > OWNER_READING_MAX_AGE_MS)
    return { pct: measured, disturbed: true, kept: last };
  return { pct: Math.min(measured, last.pct), disturbed: true, kept: last };
}

/**
 * Total policy (0.6): excess = busy - share. Owner policy: excess = owner + share - 100, i.e. the
 * owner wants CPU the pilots were given; pilots using idle CPU never count as the owner being busy.
 * `ownerPct` is the owner's figure from ownerReading(); the total policy reads busy as it is.
 */
export function cpuView(host: HostSample, policy: Policy, load: PilotLoad, ownerPct: number | undefined): CpuView {
  const pilotSharePct = sharePct(load.cpus, host.ncpus);
  const marginPct = marginOf(policy, host.ncpus, load.largest);
  if (host.cpu === undefined) return { pilotSharePct, marginPct, ownerBusyPct: undefined, excessPct: undefined };
  const busy = host.cpu.busyPct;
  const ownerBusyPct = ownerPct ?? busy;
  const excessPct = policy.cpuPolicy === 'total' ? busy - pilotSharePct : ownerBusyPct + pilotSharePct - 100;
  return { pilotSharePct, marginPct, ownerBusyPct, excessPct };
}

/** The excess under which an overload is over, a resumed pilot stays and a started one fits: margin minus hysteresis. */
export function calmLine(cpu: CpuView, policy: Policy): number {
  return cpu.marginPct - policy.overloadHysteresisPct;
}

/** Over when the excess passes the margin; back under only at or below the calm line. */
export function isOverloaded(cpu: CpuView, wasOverloaded: boolean, policy: Policy): boolean {
  if (cpu.excessPct === undefined) return wasOverloaded;
  if (cpu.excessPct > cpu.marginPct) return true;
  return wasOverloaded && cpu.excessPct > calmLine(cpu, policy);
}
