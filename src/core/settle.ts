/**
 * What the core makes of a pass once the shell has carried it out: the image bookkeeping after a
 * pull, and when to come back. Pure, like decide(): the shell hands in what happened.
 */
import type { PoolImages } from './decide-inputs.ts';
import { poolStateOf, withPoolState } from './pools.ts';
import { freedBy } from './rules/memory.ts';
import type { Controls, Decision, ImageBook, PolicyState } from './decision.ts';

/** How a pass went, as the executor reports it. */
export interface PassOutcome {
  /** Pilots started (fewer than decided when a fill was cut short or a start failed). */
  readonly started: number;
  readonly removed: number;
  /** Each image pulled in this pass and whether its pull succeeded (empty: no pull was due). */
  readonly pulls: Readonly<Record<string, boolean>>;
  readonly exit?: 'drain-stop' | 'force-stop' | undefined;
  /** The pilots whose pause the engine carried out, and those whose pause it could not (ids). */
  readonly paused?: readonly string[] | undefined;
  readonly pauseFailed?: readonly string[] | undefined;
}

/** How soon a pass looks again while the CPU rule follows the owner (proportional pace, the host over the line or pilots paused) (ms): an owner's rise read over a part of a watch tick is covered by the pass after. */
export const CPU_RECHECK_MS = 500;

/** The count of pauses that failed in a row, by pilot, after this pass's. */
function countPauseFailures(
  failures: Readonly<Record<string, number>> | undefined,
  outcome: PassOutcome,
): Readonly<Record<string, number>> | undefined {
  if (!failures && !outcome.pauseFailed?.length) return failures;
  const next: Record<string, number> = { ...failures };
  for (const id of outcome.paused ?? []) delete next[id];
  for (const id of outcome.pauseFailed ?? []) next[id] = (next[id] ?? 0) + 1;
  return Object.keys(next).length > 0 ? next : undefined;
}

/** How soon a pass held back by a disturbed CPU reading looks again, with a clean one (ms). */
export const RECHECK_MS = 2000;

/** How soon a pass looks again while the owner uses the disk or pilots are paused for it (ms). */
export const IO_RECHECK_MS = 1000;

/** A pool's image book after a pull of its image. */
function pulledBook(book: ImageBook, image: string, ok: boolean, at: number): ImageBook {
  return ok ? { lastPulledName: image, lastPullOkAt: at, lastPullAttemptAt: at } : { ...book, lastPullAttemptAt: at };
}

/** The books of the pools whose image was pulled in this pass. */
function bookPulls(
  state: PolicyState,
  pulled: ReadonlySet<string>,
  outcome: PassOutcome,
  pools: PoolImages,
  at: number,
): PolicyState {
  let next = state;
  for (const pool of pools.pools) {
    const image = pools.images[pool.name];
    if (image === undefined || !pulled.has(image)) continue;
    const ok = outcome.pulls[image] === true;
    const book = poolStateOf(next, pool.name).image ?? {};
    next = withPoolState(next, pools.pools, pool.name, { image: pulledBook(book, image, ok, at) });
  }
  return next;
}

/** What settle() is told besides the decision and its outcome. */
export interface SettleContext {
  /** When the pass ended. */
  readonly at: number;
  readonly controls: Controls;
  readonly pilotsLeft: number;
  readonly mainMs: number;
  /** Each pool's image, whose book a pull of it updates. */
  readonly pools: PoolImages;
  /**
   * For the memory removals: what each pilot held in this pass (bytes by id) and the pilots the
   * engine lists after it (ids); without it, no memory is counted as on its way back.
   */
  readonly memory?:
    { readonly usage: ReadonlyMap<string, number> | undefined; readonly left: readonly string[] } | undefined;
  /**
   * No pilot's priority was read back from its cgroups in this pass (none located yet): pilots
   * it started are read back (and a Docker-in-Docker engine's cgroup set idle) 2 s later, not
   * after a whole `main_sleep`.
   */
  readonly priorityUnread?: boolean | undefined;
}

/**
 * The state after the pass (`at`: when it ended) and when the next one should run (ms). It comes
 * back at once while something is in motion: a pull to follow with starts, pilots to stop or
 * memory to free, a fill cut short; 2 s later when the decision was held back by a stand-in owner
 * figure, or when it started the first pilots whose priority is to be read back; within a second
 * while the owner uses the disk, within half a second while the CPU rule follows the owner (the
 * host over the line, or pilots paused for it); else after `main_sleep`. Pauses that failed are counted by pilot, for
 * the rule that vacates a pilot the engine cannot freeze. The pilots it
 * removed for memory are remembered with what they held, so that the next passes count that
 * memory as on its way back rather than take more pilots for it (rules/memory.ts).
 */
export function settle(
  state: PolicyState,
  decision: Decision,
  outcome: PassOutcome,
  ctx: SettleContext,
): { state: PolicyState; nextMs: number } {
  const { at, controls, mainMs } = ctx;
  let next = state;
  const pulled = new Set(decision.actions.flatMap((a) => (a.kind === 'pull' ? [a.image] : [])));
  if (pulled.size > 0) next = bookPulls(state, pulled, outcome, ctx.pools, at);
  const forMemory = decision.actions.flatMap((a) => (a.kind === 'remove' && a.reason === 'memory' ? [a.id] : []));
  if (forMemory.length > 0 && ctx.memory) {
    const freed = freedBy(forMemory, ctx.memory.usage, new Set(ctx.memory.left), at);
    if (Object.keys(freed).length > 0) next = { ...next, memoryFreed: { ...next.memoryFreed, ...freed } };
  }
  const pauseFailures = countPauseFailures(next.pauseFailures, outcome);
  if (pauseFailures !== next.pauseFailures) next = { ...next, pauseFailures };
  if (outcome.exit) return { state: next, nextMs: 0 };
  // a pass that started pilots with room left (a fill cut short, or fewer fitted) comes back at once;
  // the next reading is mostly the engine starting them, which decide() discounts
  const filling = outcome.started > 0 && decision.fit.room > outcome.started;
  // memory: come straight back only while there is something to free; the memory watch wakes the loop when it runs short again
  const freeing = decision.actions.some((a) => a.kind === 'remove' && a.reason === 'memory');
  // a pull that brought every image due is followed at once by the starts it was for
  const pulledAll = Object.keys(outcome.pulls).length > 0 && Object.values(outcome.pulls).every(Boolean);
  const busy = pulledAll || controls.forceStop || (controls.drainStop && ctx.pilotsLeft === 0) || freeing;
  // held back by a stand-in owner figure (the reading was mostly our own engine work): a real reading soon
  const recheck =
    (decision.fit.ownerDisturbed === true && decision.fit.blocked === 'no-idle-cpu') ||
    (outcome.started > 0 && ctx.priorityUnread === true);
  // the owner on the disk: look again within a second, to give it back once it is quiet
  const disk = decision.io?.ownerBusy === true || (decision.io?.state.paused?.length ?? 0) > 0;
  // the CPU rule following the owner: over the line, or pilots paused that its calm will bring back
  const cpu = decision.cpu?.following === true;
  const soon =
    disk || cpu
      ? Math.min(disk ? IO_RECHECK_MS : Infinity, cpu ? CPU_RECHECK_MS : Infinity)
      : recheck
        ? RECHECK_MS
        : undefined;
  return { state: next, nextMs: busy || filling ? 0 : soon === undefined ? mainMs : Math.min(mainMs, soon) };
}
