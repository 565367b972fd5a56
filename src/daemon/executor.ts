import { EngineError } from '../core/errors.ts';
import type { Action, Pilot } from '../core/types.ts';
import type { LoadedConfig } from '../config/load.ts';
import { buildPilotSpec, newPilotId } from '../engine/pilot-spec.ts';
import type { EnginePort } from '../engine/port.ts';
import type { Logger } from '../report/logger.ts';
import type { RemovalLog } from '../report/removals.ts';

/** Who this daemon is on the engine. */
export interface Identity {
  readonly instance: string;
  readonly hostname: string;
  readonly version: string;
}

export interface ExecContext {
  readonly engine: EnginePort;
  readonly logger: Logger;
  readonly removals: RemovalLog;
  readonly identity: Identity;
  readonly config: LoadedConfig;
  readonly apparmor: boolean;
  /** The idle-priority parent cgroup for new pilots, when set up. */
  readonly cgroupParent?: string | undefined;
  readonly now: () => number;
  readonly random: () => number;
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

export interface ExecResult {
  readonly started: number;
  readonly removed: number;
  /** undefined: no pull was due; else whether it succeeded. */
  readonly pulled?: boolean | undefined;
  readonly exit?: 'drain-stop' | 'force-stop' | undefined;
}

/**
 * Carries out decide()'s actions in order. An engine that cannot be reached aborts the rest
 * (rethrown, so the loop reports `waiting`); other failures are logged with the container and
 * the loop goes on, as the next iteration will see the engine's real state anyway.
 */
export async function execute(actions: readonly Action[], pilots: readonly Pilot[], ctx: ExecContext): Promise<ExecResult> {
  const byId = new Map(pilots.map((p) => [p.id, p]));
  let started = 0;
  let removed = 0;
  let pulled: boolean | undefined;
  for (let i = 0; i < actions.length; i++) {
    const action = actions[i];
    if (!action || ctx.stopping()) break;
    switch (action.kind) {
      case 'remove': {
        // consecutive removals run together: each may wait stop_timeout for its pilot
        const batch: Array<Extract<Action, { kind: 'remove' }>> = [action];
        while (batch.length < REMOVE_CONCURRENCY && actions[i + 1]?.kind === 'remove') batch.push(actions[++i] as Extract<Action, { kind: 'remove' }>);
        const results = await Promise.allSettled(
          batch.map((a) => guard(ctx, { container: a.id, name: a.name }, () => removePilot(a, byId.get(a.id), ctx))),
        );
        removed += results.filter((r) => r.status === 'fulfilled' && r.value).length;
        const unreachable = results.find((r) => r.status === 'rejected');
        if (unreachable) throw unreachable.reason;
        break;
      }
      case 'pull':
        pulled = await guard(ctx, { image: action.image }, async () => {
          ctx.logger.info('pulling pilot image', { image: action.image });
          await ctx.engine.pull(action.image);
          ctx.logger.info('pulled pilot image', { image: action.image });
        });
        break;
      case 'start':
        started += await startPilots(action.count, ctx);
        break;
      case 'pause':
      case 'unpause': {
        const { kind, id, name } = action;
        const disk = action.for === 'io';
        await guard(ctx, { container: id, name }, async () => {
          await (kind === 'pause' ? ctx.engine.pause(id) : ctx.engine.unpause(id));
          ctx.logger.info(kind === 'pause' ? `pilot paused: the owner needs the ${disk ? 'disk' : 'CPU'}` : `pilot resumed: the owner ${disk ? 'is off the disk' : 'is idle'} again`, {
            event: kind === 'pause' ? 'pilot-paused' : 'pilot-resumed', id, name, reason: kind === 'pause' ? (disk ? 'owner-io' : 'owner-cpu') : disk ? 'owner-io-quiet' : 'owner-idle',
          });
        });
        break;
      }
      case 'exit':
        return { started, removed, pulled, exit: action.reason };
    }
  }
  return { started, removed, pulled };
}

/** Runs one engine step; true when it succeeded. Unreachable-engine errors propagate. */
async function guard(ctx: ExecContext, context: Record<string, string>, fn: () => Promise<void>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if (err instanceof EngineError && err.unreachable) throw err;
    ctx.logger.error((err as Error).message, { ...context, statusCode: err instanceof EngineError ? err.statusCode : undefined });
    return false;
  }
}

async function removePilot(action: Extract<Action, { kind: 'remove' }>, pilot: Pilot | undefined, ctx: ExecContext): Promise<void> {
  const { engine, config } = ctx;
  if (action.stopFirst) {
    const grace = action.graceSec ?? config.settings.stop_timeout;
    const s = config.settings;
    // no time for a stop command when memory must be freed now
    const command = grace > 0 ? (typeof s.stop_command === 'string' ? s.stop_command.trim().split(/\s+/).filter(Boolean) : s.stop_command) : [];
    await engine.stop(action.id, grace, { signal: s.stop_signal, command });
  }
  const exit = await engine.inspectExit(action.id);
  await engine.remove(action.id);
  const removedAt = ctx.now();
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
  ctx.logger.info('pilot removed', { event: 'pilot-removed', ...record });
}

/**
 * Starts `count` pilots, keeping docks_per_loop starts in flight (a pool, as the raw engine would
 * be driven at that concurrency): a slow start holds one slot, not a whole batch. No new start
 * is taken once the pass is interrupted. A failure is logged with its pilot; the others count.
 */
async function startPilots(count: number, ctx: ExecContext): Promise<number> {
  const cut = (): boolean => ctx.stopping() || (ctx.interrupted?.() ?? false);
  let taken = 0;
  let started = 0;
  let unreachable: Error | undefined;
  const worker = async (): Promise<void> => {
    while (taken < count && unreachable === undefined && !cut()) {
      taken++;
      try {
        if (await startOne(ctx)) started++;
      } catch (err) {
        unreachable = err as Error;
      }
    }
  };
  const inFlight = Math.max(1, Math.min(count, ctx.config.settings.docks_per_loop));
  await Promise.all(Array.from({ length: inFlight }, worker));
  if (unreachable !== undefined) throw unreachable;
  return started;
}

/** Creates and starts one pilot; false when the engine refused it (logged). Unreachable-engine errors propagate. */
function startOne(ctx: ExecContext): Promise<boolean> {
  const pilotId = newPilotId(ctx.random);
  const spec = buildPilotSpec(ctx.config.pilot, {
    ...ctx.identity,
    configHash: ctx.config.hash,
    pilotId,
    apparmor: ctx.apparmor,
    deadline: ctx.now() + ctx.config.settings.max_ttl * 1000,
    stopTimeoutSec: ctx.config.settings.stop_timeout,
    cgroupParent: ctx.cgroupParent,
  });
  return guard(ctx, { name: spec.name, image: spec.image }, async () => {
    const id = await ctx.engine.createAndStart(spec);
    ctx.logger.info('pilot started', { event: 'pilot-started', id, name: spec.name, hostname: spec.hostname });
  });
}
