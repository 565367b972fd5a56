import { EngineError } from '../core/errors.ts';

/** Waits between engine attempts, as Plancton 0.6 did: five attempts in all, 3, 6, 12 and 24 s apart. */
export const ENGINE_RETRY_DELAYS_MS: readonly number[] = [3000, 6000, 12000, 24000];

/** Sleeps `ms`, or rejects with the signal's reason as soon as it aborts. */
export type Sleep = (ms: number, signal: AbortSignal | undefined) => Promise<void>;

export interface RetryOptions {
  /** One delay per retry: `delaysMs.length + 1` attempts in all (unless `forever`). */
  readonly delaysMs: readonly number[];
  /** Past the last delay, keeps trying at that delay until success, a fatal error or the signal. */
  readonly forever?: boolean | undefined;
  readonly isRetryable: (err: unknown) => boolean;
  /** Aborting stops at once and rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /** Injected by tests, so that they never wait. */
  readonly sleep?: Sleep | undefined;
  readonly onRetry?: ((err: unknown, attempt: number, delayMs: number) => void) | undefined;
}

/**
 * Calls `fn` until it succeeds, fails with an error that is not retryable, or runs out of delays;
 * then rejects with the last error. `fn` receives the attempt number, from 1.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { isRetryable, signal, sleep = abortableSleep, onRetry } = options;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      signal?.throwIfAborted();
      const delayMs = retryDelay(options, attempt);
      if (delayMs === undefined || !isRetryable(err)) throw err;
      onRetry?.(err, attempt, delayMs);
      await untilAborted(sleep(delayMs, signal), signal);
    }
  }
}

/** The wait after failed attempt `attempt` (from 1); undefined once the delays are used up. */
export function retryDelay(options: Pick<RetryOptions, 'delaysMs' | 'forever'>, attempt: number): number | undefined {
  const { delaysMs, forever } = options;
  return delaysMs[forever ? Math.min(attempt, delaysMs.length) - 1 : attempt - 1];
}

/** True for engine failures worth another try: the engine unreachable or timing out, or a server-side error. */
export function isTransientEngineError(err: unknown): boolean {
  return err instanceof EngineError && (err.unreachable || (err.statusCode ?? 0) >= 500);
}

/** Races `work` against the signal, so that a sleep that ignores the signal still cannot delay an abort. */
function untilAborted(work: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return work;
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(reasonOf(signal));
    // Handlers first: a sleep that rejects after the abort must not become an unhandled rejection.
    work.finally(() => signal.removeEventListener('abort', onAbort)).then(resolve, reject);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(reasonOf(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      if (signal !== undefined) reject(reasonOf(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The abort reason, passed on unchanged: a DOMException unless the caller chose another value. */
function reasonOf(signal: AbortSignal): Error {
  return signal.reason as Error;
}
