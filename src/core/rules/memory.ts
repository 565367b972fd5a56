import type { HostSample, Pilot, Policy } from '../types.ts';

/** Memory counts as recovered only this far above the floor, or halfway to all of it if that is less (and PSI this far under its threshold). */
export const MEMORY_RECOVERY_FACTOR = 1.25;
export const PSI_RECOVERY_FACTOR = 0.5;

/** Under the floor (bytes; 0: off), or PSI memory `some avg10` over its limit (percent; 0: off). */
export function isMemoryShort(
  availableBytes: number,
  psiAvg10: number | undefined,
  floorBytes: number,
  psiLimitPct: number,
): boolean {
  return (
    (floorBytes > 0 && availableBytes < floorBytes) ||
    (psiLimitPct > 0 && psiAvg10 !== undefined && psiAvg10 > psiLimitPct)
  );
}

/**
 * `short`: memory is under the floor (or PSI over its threshold) now: free some. `low`: short, or
 * was short and has not yet recovered past the hysteresis: start nothing.
 */
export function memoryState(host: HostSample, policy: Policy, wasLow: boolean): { short: boolean; low: boolean } {
  const available = host.memory.availableBytes;
  const psi = host.pressure?.memory?.some.avg10;
  const floor = policy.memFloorBytes;
  const limit = policy.psiMemoryPct;
  const short = isMemoryShort(available, psi, floor, limit);
  // the recovery line stays reachable even for a floor close to the host's whole memory
  const recoveryLine = Math.min(floor * MEMORY_RECOVERY_FACTOR, (floor + host.memory.totalBytes) / 2);
  const recovering =
    (floor > 0 && available < recoveryLine) || (limit > 0 && psi !== undefined && psi > limit * PSI_RECOVERY_FACTOR);
  return { short, low: short || (wasLow && recovering) };
}

/**
 * The pilots to remove for a memory shortage, from `byAge` (youngest first): as many as it takes for their
 * memory (`usage`, bytes by id) to cover `missingBytes` (what MemAvailable lacks to the floor), at
 * least one. The figures include page cache, so removing them may free less: the next pass, which
 * follows at once, takes more. A pilot without a figure ends the list, and a shortage with no
 * amount (PSI only) takes one, so unknown figures never remove more than one pilot a pass.
 */
export function memoryVictims(
  byAge: readonly Pilot[],
  missingBytes: number,
  usage: ReadonlyMap<string, number> | undefined,
): Pilot[] {
  const victims: Pilot[] = [];
  let freed = 0;
  for (const p of byAge) {
    victims.push(p);
    const bytes = usage?.get(p.id);
    if (bytes === undefined) break;
    freed += bytes;
    if (freed >= missingBytes) break;
  }
  return victims;
}
