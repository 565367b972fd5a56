import { watch, type FSWatcher } from 'node:fs';
import type { EnginePort } from '../engine/port.ts';
import { RETRY_DELAYS_MS, retryDelay } from '../common/retry.ts';
import type { Logger } from '../report/logger.ts';
import { systemClock, type Clock } from '../common/clock.ts';

/** The things besides the clock that wake the control loop early. */

/** A change of a control file (not the status file) wakes the loop at once. */
export function watchRunDir(path: string, wake: () => void, logger: Logger): FSWatcher | undefined {
  try {
    return watch(path, (_event, file) => {
      if (file && !String(file).startsWith('.') && String(file) !== 'status.json') wake();
    });
  } catch (err) {
    logger.warn(`cannot watch ${path}; controls are read every iteration: ${(err as Error).message}`);
    return undefined;
  }
}

/**
 * Follows the engine's event stream so that an exited pilot is replaced at once; reconnects with
 * backoff until `signal` aborts, and wakes the loop after each reconnect, since whatever happened
 * while the stream was down is reconciled by the next iteration.
 */
export async function watchEngineEvents(
  engine: EnginePort,
  instance: string,
  wake: () => void,
  logger: Logger,
  signal: AbortSignal,
  clock: Clock = systemClock,
): Promise<void> {
  let failures = 0;
  while (!signal.aborted) {
    try {
      await engine.watch(
        instance,
        (ev) => {
          failures = 0;
          if (ev.action === 'die' || ev.action === 'oom' || ev.action === 'destroy') wake();
        },
        signal,
      );
    } catch (err) {
      failures++;
      if (failures === 1) logger.debug(`engine event stream lost: ${(err as Error).message}`);
    }
    if (signal.aborted) break;
    const ms = retryDelay({ delaysMs: RETRY_DELAYS_MS, forever: true }, failures + 1) ?? 3000;
    await clock.sleep(Math.min(ms, 5000), signal).catch(() => undefined);
    wake();
  }
}
