import type { Pilot } from '../types.ts';

const startOf = (p: Pilot): number => p.startedAt ?? p.createdAt;

/** The most recently started pilot; ties go to the highest id so the choice is deterministic. */
export function youngest(candidates: readonly Pilot[]): Pilot | undefined {
  let best: Pilot | undefined;
  for (const p of candidates) {
    if (!best || startOf(p) > startOf(best) || (startOf(p) === startOf(best) && p.id > best.id)) best = p;
  }
  return best;
}

/** The pilot paused first (by `pausedAt`), for resuming in order. */
export function firstPaused(candidates: readonly Pilot[], pausedAt: Readonly<Record<string, number>>): Pilot | undefined {
  let best: Pilot | undefined;
  for (const p of candidates) {
    const t = pausedAt[p.id] ?? 0;
    if (!best || t < (pausedAt[best.id] ?? 0) || (t === (pausedAt[best.id] ?? 0) && p.id < best.id)) best = p;
  }
  return best;
}
