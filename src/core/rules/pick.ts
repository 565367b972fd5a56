import type { Pilot } from '../decision.ts';

const startOf = (p: Pilot): number => p.startedAt ?? p.createdAt;

/** Whether `a` started after `b`; ties go to the higher id so every choice is deterministic. */
const younger = (a: Pilot, b: Pilot): boolean => startOf(a) > startOf(b) || (startOf(a) === startOf(b) && a.id > b.id);

/** The most recently started pilot. */
export function youngest(candidates: readonly Pilot[]): Pilot | undefined {
  let best: Pilot | undefined;
  for (const p of candidates) if (!best || younger(p, best)) best = p;
  return best;
}

/** The pilots from the most recently started to the oldest. */
export function youngestFirst(candidates: readonly Pilot[]): Pilot[] {
  return [...candidates].sort((a, b) => (younger(a, b) ? -1 : younger(b, a) ? 1 : 0));
}

/** The pilot paused first (by `pausedAt`), for resuming in order. */
export function firstPaused(
  candidates: readonly Pilot[],
  pausedAt: Readonly<Record<string, number>>,
): Pilot | undefined {
  let best: Pilot | undefined;
  for (const p of candidates) {
    const t = pausedAt[p.id] ?? 0;
    if (!best || t < (pausedAt[best.id] ?? 0) || (t === (pausedAt[best.id] ?? 0) && p.id < best.id)) best = p;
  }
  return best;
}
