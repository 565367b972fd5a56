import { EXIT_NO_WORK, type Backoff, type Pilot, type PoolPolicy } from '../decision.ts';

/** What the backoff rule reads of a pool's settings. */
type BackoffSettings = Pick<PoolPolicy, 'noWorkUptimeMs' | 'backoffBaseMs' | 'backoffMaxMs'>;

/** How an ended pilot's run counts for the pilot contract. */
export function outcomeOf(p: Pilot, policy: BackoffSettings): 'worked' | 'no-work' | 'neutral' {
  const uptime = p.startedAt !== undefined && p.finishedAt !== undefined ? p.finishedAt - p.startedAt : undefined;
  const quick = uptime !== undefined && uptime < policy.noWorkUptimeMs;
  if (p.exitCode === EXIT_NO_WORK || quick) return 'no-work';
  return p.exitCode === 0 && uptime !== undefined ? 'worked' : 'neutral';
}

const startOf = (p: Pilot): number => p.startedAt ?? p.createdAt;

/** The live pilots started since the backoff began: the probes. */
export function probes(backoff: Backoff, live: readonly Pilot[]): Pilot[] {
  return live.filter((p) => startOf(p) >= backoff.since);
}

/**
 * One pilot that did work ends the backoff at once, and so does a probe still running after
 * `backoff_max` (it found work that lasts, e.g. an HTCondor job); pilots that found none raise it
 * one level: wait min(max, base * 2^(level-1)), with "equal jitter" (half fixed, half random).
 */
export function nextBackoff(
  prev: Backoff | undefined,
  ended: readonly Pilot[],
  live: readonly Pilot[],
  policy: BackoffSettings,
  now: number,
  jitter: number,
): Backoff | undefined {
  const outcomes = ended.map((p) => outcomeOf(p, policy));
  if (outcomes.includes('worked')) return undefined;
  if (prev && probes(prev, live).some((p) => now - startOf(p) >= policy.backoffMaxMs)) return undefined;
  if (!outcomes.includes('no-work')) return prev;
  const level = (prev?.level ?? 0) + 1;
  const delay = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** (level - 1));
  return { level, until: now + delay * (0.5 + 0.5 * Math.min(1, Math.max(0, jitter))), since: prev?.since ?? now };
}
