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

/** The pilots from the one paused first (by `pausedAt`) to the one paused last, for resuming in order. */
export function firstPausedFirst(candidates: readonly Pilot[], pausedAt: Readonly<Record<string, number>>): Pilot[] {
  const at = (p: Pilot): number => pausedAt[p.id] ?? 0;
  return [...candidates].sort((a, b) => at(a) - at(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
