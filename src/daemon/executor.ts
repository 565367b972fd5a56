import { EngineError } from '../core/errors.ts';
import type { PassOutcome } from '../core/settle.ts';
import type { Identity, PullSource } from '../core/pilot-shape.ts';
import type { Action, Pilot } from '../core/decision.ts';
import { buildPilotSpec, newPilotId } from '../engine/pilot-spec.ts';
import type { EnginePort } from '../engine/port.ts';
import type { Logger } from '../report/logger.ts';
import type { RemovalLog } from '../report/removals.ts';
import type { Clock } from '../common/clock.ts';
import { vacate } from './vacate.ts';

export type { Identity } from '../core/pilot-shape.ts';

/** Everything the executor needs besides the actions; no setting: the actions carry their values. */
export interface ExecContext {
  readonly engine: EnginePort;
  readonly logger: Logger;
  readonly removals: RemovalLog;
  readonly identity: Identity;
  readonly apparmor: boolean;
  /** The registry of an image and the credentials to pull it with (read anew at every pull). */
  readonly pullSource: (image: string) => Promise<PullSource>;
  /** The idle-priority parent cgroup for new pilots, when set up. */
  readonly cgroupParent?: string | undefined;
  /** Lifts the idle groups above pilots for the time of their pause, so that they reach the freezer (host/pause-boost.ts). */
  readonly pauseBoost?:
    | { around<T>(ids: readonly string[], fn: () => Promise<T>): Promise<{ result: T; groups: readonly string[] }> }
    | undefined;
  readonly clock: Clock;
  readonly random: () => number;
  /** Aborted by a second stop signal: every engine call in flight gives up, and the rest is skipped. */
  readonly signal?: AbortSignal | undefined;
  /** True once a stop was asked for: the action in flight finishes, the rest are skipped. */
  readonly stopping: () => boolean;
  /**
   * True once something the pass decided by may have changed (a control file, memory short, a
   * stop): a fill takes no new start, and the next pass decides again.
   */
  readonly interrupted?: (() => boolean) | undefined;
}

/** How many pilots are stopped and removed at the same time. */
const REMOVE_CONCURRENCY = 8;

/** How many pilots are paused or resumed at the same time. */
const PAUSE_CONCURRENCY = 64;

type RemoveAction = Extract<Action, { kind: 'remove' }>;
type PauseAction = Extract<Action, { kind: 'pause' | 'unpause' }>;

/**
 * Carries out decide()'s actions in order. An engine that cannot be reached aborts the rest
 * (rethrown, so the loop reports `waiting`), and so does the abort signal; other failures are
 * logged with the container and the loop goes on, as the next pass sees the engine's real state.
 */
export async function execute(
  actions: readonly Action[],
  pilots: readonly Pilot[],
  ctx: ExecContext,
): Promise<PassOutcome> {
  const byId = new Map(pilots.map((p) => [p.id, p]));
  let started = 0;
  let removed = 0;
  const pulls: Record<string, boolean> = {};
  const paused: string[] = [];
  const pauseFailed: string[] = [];
  const done = (): PassOutcome => ({
    started,
    removed,
    pulls,
    ...(paused.length > 0 ? { paused } : {}),
    ...(pauseFailed.length > 0 ? { pauseFailed } : {}),
  });
  for (let i = 0; i < actions.length; i++) {
    const action = actions[i];
    if (!action || ctx.stopping() || ctx.signal?.aborted) break;
    switch (action.kind) {
      case 'remove': {
        // consecutive removals run together: each may wait its grace for its pilot
        const batch: RemoveAction[] = [action];
        while (batch.length < REMOVE_CONCURRENCY && actions[i + 1]?.kind === 'remove')
          batch.push(actions[++i] as RemoveAction);
        removed += await removeBatch(batch, byId, ctx);
        break;
      }
      case 'pull':
        pulls[action.image] = await pull(action.image, ctx);
        break;
      case 'start':
        started += await startPilots(action, ctx);
        break;
      case 'pause':
      case 'unpause': {
        // consecutive pauses (or resumes) run together: the owner waits until the last pilot is frozen
        const batch: PauseAction[] = [action];
        for (let next = actions[i + 1]; next?.kind === action.kind; next = actions[i + 1]) {
          batch.push(next);
          i++;
        }
        const ok = await pauseBatch(batch, ctx);
        if (action.kind === 'pause') batch.forEach((a, n) => (ok[n] ? paused : pauseFailed).push(a.id));
        break;
      }
      case 'exit':
        return { ...done(), exit: action.reason };
    }
  }
  return done();
}

/**
 * Pauses (or resumes) a batch, PAUSE_CONCURRENCY at a time; pauses run with the pilots' idle
 * groups lifted (pauseBoost). Whether each succeeded, in order; unreachable-engine errors propagate.
 */
async function pauseBatch(batch: readonly PauseAction[], ctx: ExecContext): Promise<boolean[]> {
  const run = async (): Promise<boolean[]> => {
    const ok: boolean[] = [];
    for (let from = 0; from < batch.length; from += PAUSE_CONCURRENCY) {
      const results = await Promise.allSettled(
        batch.slice(from, from + PAUSE_CONCURRENCY).map((a) => pauseOrResume(a, ctx)),
      );
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      for (const r of results) ok.push(r.status === 'fulfilled' && r.value);
    }
    return ok;
  };
  const pausing = batch[0]?.kind === 'pause';
  if (!pausing || !ctx.pauseBoost) return run();
  return (
    await ctx.pauseBoost.around(
      batch.map((a) => a.id),
      run,
    )
  ).result;
}

/** Runs one engine step; true when it succeeded. Unreachable-engine errors and an abort propagate. */
async function guard(ctx: ExecContext, context: Record<string, string>, fn: () => Promise<void>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if (ctx.signal?.aborted) throw err;
    if (err instanceof EngineError && err.unreachable) throw err;
    ctx.logger.error((err as Error).message, {
      ...context,
      statusCode: err instanceof EngineError ? err.statusCode : undefined,
    });
    return false;
  }
}

async function removeBatch(
  batch: readonly RemoveAction[],
  byId: ReadonlyMap<string, Pilot>,
  ctx: ExecContext,
): Promise<number> {
  const results = await Promise.allSettled(
    batch.map((a) => guard(ctx, { container: a.id, name: a.name }, () => removePilot(a, byId.get(a.id), ctx))),
  );
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.filter((r) => r.status === 'fulfilled' && r.value).length;
}

function pull(image: string, ctx: ExecContext): Promise<boolean> {
  return guard(ctx, { image }, async () => {
    const source = await ctx.pullSource(image);
    ctx.logger.info('pulling pilot image', { image, registry: source.registry, credentials: source.from ?? 'none' });
    await ctx.engine.pull(image, { signal: ctx.signal, source });
    ctx.logger.info('pulled pilot image', { image });
  });
}

async function pauseOrResume(action: PauseAction, ctx: ExecContext): Promise<boolean> {
  const { kind, id, name } = action;
  const disk = action.for === 'io';
  const context = { container: id, name, ...(kind === 'pause' ? { event: 'pilot-pause-failed' } : {}) };
  return guard(ctx, context, async () => {
    await (kind === 'pause'
      ? ctx.engine.pause(id, { signal: ctx.signal })
      : ctx.engine.unpause(id, { signal: ctx.signal }));
    ctx.logger.info(
      kind === 'pause'
        ? `pilot paused: the owner needs the ${disk ? 'disk' : 'CPU'}`
        : `pilot resumed: the owner ${disk ? 'is off the disk' : 'is idle'} again`,
      {
        event: kind === 'pause' ? 'pilot-paused' : 'pilot-resumed',
        id,
        name,
        reason: kind === 'pause' ? (disk ? 'owner-io' : 'owner-cpu') : disk ? 'owner-io-quiet' : 'owner-idle',
      },
    );
  });
}

async function removePilot(action: RemoveAction, pilot: Pilot | undefined, ctx: ExecContext): Promise<void> {
  const { engine, signal } = ctx;
  if (action.stopFirst) await vacate(action.id, action.vacate, { engine, clock: ctx.clock, signal });
  const exit = await engine.inspectExit(action.id, { signal });
  await engine.remove(action.id, { signal });
  const removedAt = ctx.clock.now();
  const startedAt = exit?.startedAt ?? pilot?.startedAt;
  const end = exit?.finishedAt ?? removedAt;
  const record = {
    id: action.id,
    name: action.name,
    reason: action.reason,
    exitCode: exit?.exitCode,
    oomKilled: exit?.oomKilled ?? false,
    uptimeSec: startedAt === undefined ? undefined : Math.max(0, (end - startedAt) / 1000),
    startedAt,
    removedAt,
    started: startedAt !== undefined,
    killed: action.stopFirst,
  };
  ctx.removals.add(record);
  ctx.logger.info('pilot removed', {
    event: 'pilot-removed',
    ...record,
    ...(pilot?.pool === undefined ? {} : { pool: pilot.pool }),
  });
}

/**
 * Starts `count` pilots, keeping `concurrency` starts in flight (a pool, as the raw engine would
 * be driven at that concurrency): a slow start holds one slot, not a whole batch. No new start
 * is taken once the pass is interrupted. A failure is logged with its pilot; the others count.
 */
async function startPilots(action: Extract<Action, { kind: 'start' }>, ctx: ExecContext): Promise<number> {
  const cut = (): boolean => ctx.stopping() || (ctx.signal?.aborted ?? false) || (ctx.interrupted?.() ?? false);
  let taken = 0;
  let started = 0;
  let unreachable: unknown;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (taken < action.count && !failed && !cut()) {
      taken++;
      try {
        if (await startOne(action, ctx)) started++;
      } catch (err) {
        [failed, unreachable] = [true, err];
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(action.count, action.concurrency)) }, worker));
  if (failed) throw unreachable;
  return started;
}

/** Creates and starts one pilot; false when the engine refused it (logged). Unreachable-engine errors propagate. */
function startOne(action: Extract<Action, { kind: 'start' }>, ctx: ExecContext): Promise<boolean> {
  const pilotId = newPilotId(ctx.random);
  const spec = buildPilotSpec(action.shape, {
    ...ctx.identity,
    configHash: action.configHash,
    pool: { name: action.pool, vacate: action.vacate },
    pilotId,
    apparmor: ctx.apparmor,
    deadline: ctx.clock.now() + action.ttlMs,
    stopTimeoutSec: action.stopTimeoutSec,
    cgroupParent: ctx.cgroupParent,
  });
  return guard(ctx, { name: spec.name, image: spec.image }, async () => {
    const id = await ctx.engine.createAndStart(spec, { signal: ctx.signal });
    ctx.logger.info('pilot started', {
      event: 'pilot-started',
      id,
      name: spec.name,
      hostname: spec.hostname,
      ...(action.pool === undefined ? {} : { pool: action.pool }),
    });
  });
}
