import type { HostSample, Policy } from '../types.ts';

/** What the CPU readings say, in percent of the whole host. */
export interface CpuView {
  /** The share the active (unpaused) pilots may use: 100 * cpus_per_dock * min(n, max_docks) / ncpus. */
  readonly pilotSharePct: number;
  /** Busy minus the pilots' own use; equals busy when the pilots' use is unknown. */
  readonly ownerBusyPct: number | undefined;
  /** How far over the line the host is (positive: over); undefined without a reading. */
  readonly excessPct: number | undefined;
}

export function shareOf(policy: Policy, ncpus: number, pilots: number): number {
  return (100 * policy.cpusPerDock * Math.min(pilots, Math.max(0, policy.maxDocks))) / Math.max(1, ncpus);
}

/**
 * Total policy (0.6): excess = busy - share. Owner policy: excess = owner + share - 100, i.e. the
 * owner wants CPU the pilots were given; pilots using idle CPU never count as the owner being busy.
 */
export function cpuView(host: HostSample, policy: Policy, activePilots: number, pilotsBusyPct: number | undefined): CpuView {
  const pilotSharePct = shareOf(policy, host.ncpus, activePilots);
  if (host.cpu === undefined) return { pilotSharePct, ownerBusyPct: undefined, excessPct: undefined };
  const busy = host.cpu.busyPct;
  const ownerBusyPct = Math.max(0, busy - (pilotsBusyPct ?? 0));
  const excessPct = policy.cpuPolicy === 'total' ? busy - pilotSharePct : ownerBusyPct + pilotSharePct - 100;
  return { pilotSharePct, ownerBusyPct, excessPct };
}

/** Over when the excess passes the margin; back under only below margin minus hysteresis. */
export function isOverloaded(excessPct: number | undefined, wasOverloaded: boolean, policy: Policy): boolean {
  if (excessPct === undefined) return wasOverloaded;
  if (excessPct > policy.overloadMarginPct) return true;
  return wasOverloaded && excessPct > policy.overloadMarginPct - policy.overloadHysteresisPct;
}
