import type { FreedMemory, HostSample, Pilot, Policy } from '../decision.ts';

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

/**
 * How long the memory of a pilot removed to free memory counts as on its way back once its removal
 * ended (ms): a guard for a pass read in the instant between the engine's answer and the kernel's
 * teardown. Measured with the per-CPU free lists counted (host/zoneinfo.ts), a removed pilot's
 * memory is back within 1 ms of `docker rm -f` answering, on Docker 20.10, Docker 26 and Podman 4.3
 * alike (512 MiB pilots, 3 each); a longer window only hides a shortage the removal did not cover
 * (5 s made the memory-reclaim benchmark take 6.6 s). Past this, or once memory is no longer
 * short, it counts no more.
 */
export const MEMORY_RELEASE_MS = 250;

/**
 * The memory still on its way back at `now` from pilots removed to free memory: the entries of
 * `freed` within MEMORY_RELEASE_MS of their removal whose pilot is gone from the engine's list
 * (`listed`: one still listed holds its memory, or was never removed), and their bytes.
 */
export function memoryOnItsWay(
  freed: Readonly<Record<string, FreedMemory>> | undefined,
  now: number,
  listed?: ReadonlySet<string>,
): { bytes: number; kept: Record<string, FreedMemory> | undefined } {
  let bytes = 0;
  let kept: Record<string, FreedMemory> | undefined;
  for (const [id, f] of Object.entries(freed ?? {})) {
    if (listed?.has(id) || now - f.at >= MEMORY_RELEASE_MS || now < f.at) continue;
    bytes += f.bytes;
    (kept ??= {})[id] = f;
  }
  return { bytes, kept };
}

/**
 * What is left to free once the memory on its way back counts (`onItsWayBytes`): undefined when
 * nothing (it covers what is missing to the floor, or memory is short by PSI alone, which lags,
 * while it comes back); else the bytes missing to the floor less it (0 or less: no amount, one pilot).
 */
export function stillToFree(availableBytes: number, floorBytes: number, onItsWayBytes: number): number | undefined {
  const missing = floorBytes > 0 ? floorBytes - availableBytes : 0;
  if (onItsWayBytes <= 0) return missing;
  const left = missing - onItsWayBytes;
  return left > 0 ? left : undefined;
}

/**
 * The memory watch's question between passes: short by the floor or PSI, and not covered by the
 * memory the last removals still give back (`onItsWayBytes`, see memoryOnItsWay).
 */
export function shortBeyondRelease(
  availableBytes: number,
  psiAvg10: number | undefined,
  policy: Pick<Policy, 'memFloorBytes' | 'psiMemoryPct'>,
  onItsWayBytes: number,
): boolean {
  return (
    isMemoryShort(availableBytes, psiAvg10, policy.memFloorBytes, policy.psiMemoryPct) &&
    stillToFree(availableBytes, policy.memFloorBytes, onItsWayBytes) !== undefined
  );
}

/**
 * The memory removals of a pass, once carried out (for settle()): each pilot removed for memory that
 * is gone from the engine's list after the pass, with what it held (`usage`, the pass's figures) and
 * when the removal ended. A pilot without a figure is left out: nothing is counted for it.
 */
export function freedBy(
  removed: readonly string[],
  usage: ReadonlyMap<string, number> | undefined,
  left: ReadonlySet<string>,
  at: number,
): Record<string, FreedMemory> {
  const out: Record<string, FreedMemory> = {};
  for (const id of removed) {
    const bytes = usage?.get(id);
    if (bytes !== undefined && bytes > 0 && !left.has(id)) out[id] = { bytes, at };
  }
  return out;
}
