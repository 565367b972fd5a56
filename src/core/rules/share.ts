/**
 * The idle CPU divided among pools by their shares, work-conserving: a pool that claims nothing
 * (backing off, at its max_docks, its image missing) leaves its part to the others, and takes it
 * back, as pilots end, once it claims again. Pure arithmetic over plain values.
 */

/** Floating point slack so that e.g. 0.95 * 2 / 0.1 counts as 19, not 18.999… */
export const EPSILON = 1e-9;

/** One pool's claim on the idle CPU in a pass. */
export interface Claim {
  /** Weight of the pool (positive). */
  readonly share: number;
  readonly cpusPerDock: number;
  /** CPUs its pilots hold now (cpus_per_dock each). */
  readonly heldCpus: number;
  /** Most pilots it may start in this pass (its room under max_docks, one probe in a backoff); 0: no claim. */
  readonly limit: number;
}

/** How many pilots of `cpusPerDock` CPUs fit in `spareCpus`. */
export function pilotsIn(spareCpus: number, cpusPerDock: number): number {
  return Math.max(0, Math.floor(spareCpus / cpusPerDock + EPSILON));
}

/**
 * How many pilots each claim starts out of `spareCpus` (the CPUs the owner leaves that no pilot
 * holds yet). One pilot at a time goes to the claim furthest under its share: the lowest CPUs
 * held (and started so far) per unit of share, ties to the earlier pool, until no claim's next
 * pilot fits or every claim has its limit. So two pools of 70 and 30 on an empty 10-CPU host get
 * 7 and 3 one-CPU pilots; a pool alone takes all it may; a pool over its share (it took the CPU of
 * a pool that had no work) gets no new pilot while the other claims, and gives the CPU back as
 * its pilots end. No pilot is stopped to rebalance: pilots end on their own (no work, max_ttl).
 */
export function splitIdle(claims: readonly Claim[], spareCpus: number): number[] {
  const counts = claims.map(() => 0);
  let spare = spareCpus;
  for (;;) {
    const open = claims.flatMap((c, i) =>
      (counts[i] ?? 0) < c.limit && pilotsIn(spare, c.cpusPerDock) >= 1 ? [i] : [],
    );
    if (open.length === 0) return counts;
    const [only] = open;
    if (open.length === 1 && only !== undefined) {
      // alone: as many as fit, at once (a limit may be Infinity)
      const c = claims[only] as Claim;
      counts[only] = (counts[only] ?? 0) + Math.min(c.limit - (counts[only] ?? 0), pilotsIn(spare, c.cpusPerDock));
      return counts;
    }
    const key = (i: number): number => {
      const c = claims[i] as Claim;
      return (c.heldCpus + (counts[i] ?? 0) * c.cpusPerDock) / c.share;
    };
    const best = open.reduce((a, b) => (key(b) < key(a) - EPSILON ? b : a));
    counts[best] = (counts[best] ?? 0) + 1;
    spare -= (claims[best] as Claim).cpusPerDock;
  }
}
