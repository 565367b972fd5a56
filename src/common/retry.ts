/**
 * The one retry helper: the engine at start-up, the first configuration fetch. Waits go through
 * the injected clock (Node's timers by default), so that tests never wait.
 */
import { systemClock, type Clock } from './clock.ts';

/** Waits between attempts, as Plancton 0.6 did: five attempts in all, 3, 6, 12 and 24 s apart. */
export const RETRY_DELAYS_MS: readonly number[] = [3000, 6000, 12000, 24000];

export interface RetryOptions {
  /** One delay per retry: `delaysMs.length + 1` attempts in all (unless `forever`). */
  readonly delaysMs: readonly number[];
  /** Past the last delay, keeps trying at that delay until success, a fatal error or the signal. */
  readonly forever?: boolean | undefined;
  readonly isRetryable: (err: unknown) => boolean;
  /** Aborting stops at once and rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /** Where the waits happen; the system clock by default. */
  readonly clock?: Pick<Clock, 'sleep'> | undefined;
  readonly onRetry?: ((err: unknown, attempt: number, delayMs: number) => void) | undefined;
}

/**
 * Calls `fn` until it succeeds, fails with an error that is not retryable, or runs out of delays;
 * then rejects with the last error. `fn` receives the attempt number, from 1.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { isRetryable, signal, clock = systemClock, onRetry } = options;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      signal?.throwIfAborted();
      const delayMs = retryDelay(options, attempt);
      if (delayMs === undefined || !isRetryable(err)) throw err;
      onRetry?.(err, attempt, delayMs);
      await untilAborted(clock.sleep(delayMs, signal), signal);
    }
  }
}

/** The wait after failed attempt `attempt` (from 1); undefined once the delays are used up. */
export function retryDelay(options: Pick<RetryOptions, 'delaysMs' | 'forever'>, attempt: number): number | undefined {
  const { delaysMs, forever } = options;
  return delaysMs[forever ? Math.min(attempt, delaysMs.length) - 1 : attempt - 1];
}

/**
 * Races `work` against the signal and rejects with the signal's own reason (Node's timers reject
 * with an AbortError around it), so that a sleep that ignores the signal still cannot delay an abort.
 */
function untilAborted(work: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return work;
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    // Handlers first: a sleep that rejects after the abort must not become an unhandled rejection.
    work.finally(() => signal.removeEventListener('abort', onAbort)).then(resolve, reject);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}
