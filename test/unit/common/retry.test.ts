import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { EngineError } from '../../../src/core/errors.ts';
import type { Clock } from '../../../src/common/clock.ts';
import { RETRY_DELAYS_MS, withRetry } from '../../../src/common/retry.ts';
import { isTransientEngineError } from '../../../src/engine/engine-errors.ts';

type Sleep = Clock['sleep'];

/** A sleep that records what it was asked and returns at once. */
function recordingSleep(): { sleep: Sleep; slept: number[] } {
  const slept: number[] = [];
  return {
    slept,
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
  };
}

/** A function that fails with the given errors in turn, then returns `value`. */
function failing<T>(errors: Error[], value: T): { fn: (attempt: number) => Promise<T>; attempts: number[] } {
  const attempts: number[] = [];
  return {
    attempts,
    fn: (attempt) => {
      attempts.push(attempt);
      const err = errors.shift();
      return err === undefined ? Promise.resolve(value) : Promise.reject(err);
    },
  };
}

const unreachable = (): EngineError => new EngineError('ping engine failed', { unreachable: true });

describe('withRetry', () => {
  it('forever: past the last delay, keeps trying at that delay', async () => {
    const { sleep, slept } = recordingSleep();
    const { fn, attempts } = failing(Array.from({ length: 6 }, unreachable), 'up');
    assert.equal(
      await withRetry(fn, {
        delaysMs: [3, 6, 12],
        forever: true,
        isRetryable: isTransientEngineError,
        clock: { sleep },
      }),
      'up',
    );
    assert.deepEqual(slept, [3, 6, 12, 12, 12, 12]);
    assert.equal(attempts.length, 7);
  });

  it('returns the first success without sleeping', async () => {
    const { sleep, slept } = recordingSleep();
    const { fn, attempts } = failing([], 'ok');
    assert.equal(await withRetry(fn, { delaysMs: [1, 2], isRetryable: () => true, clock: { sleep } }), 'ok');
    assert.deepEqual(attempts, [1]);
    assert.deepEqual(slept, []);
  });

  it('retries retryable errors with the given delays, in order', async () => {
    const { sleep, slept } = recordingSleep();
    const { fn, attempts } = failing([unreachable(), unreachable()], 42);
    const retries: [number, number][] = [];
    const result = await withRetry(fn, {
      delaysMs: RETRY_DELAYS_MS,
      isRetryable: isTransientEngineError,
      clock: { sleep },
      onRetry: (_err, attempt, delayMs) => retries.push([attempt, delayMs]),
    });
    assert.equal(result, 42);
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.deepEqual(slept, [3000, 6000]);
    assert.deepEqual(retries, [
      [1, 3000],
      [2, 6000],
    ]);
  });

  it('gives up after one attempt per delay plus one, with the last error', async () => {
    const { sleep, slept } = recordingSleep();
    const errors = [1, 2, 3, 4, 5, 6].map((n) => new EngineError(`failure ${n}`, { statusCode: 500 }));
    const { fn, attempts } = failing([...errors], 'never');
    await assert.rejects(
      withRetry(fn, { delaysMs: RETRY_DELAYS_MS, isRetryable: isTransientEngineError, clock: { sleep } }),
      errors[4],
    );
    assert.deepEqual(attempts, [1, 2, 3, 4, 5]);
    assert.deepEqual(slept, [3000, 6000, 12000, 24000]);
  });

  it('does not retry an error that is not retryable', async () => {
    const { sleep, slept } = recordingSleep();
    const conflict = new EngineError('create pilot failed', { statusCode: 409 });
    const { fn, attempts } = failing([conflict], 'never');
    await assert.rejects(
      withRetry(fn, { delaysMs: [1, 2, 3], isRetryable: isTransientEngineError, clock: { sleep } }),
      conflict,
    );
    assert.deepEqual(attempts, [1]);
    assert.deepEqual(slept, []);
  });

  it('with no delays, makes exactly one attempt', async () => {
    const { fn, attempts } = failing([unreachable()], 'never');
    await assert.rejects(withRetry(fn, { delaysMs: [], isRetryable: () => true }), EngineError);
    assert.deepEqual(attempts, [1]);
  });

  it('stops waiting at once when aborted, even if the sleep ignores the signal, and rejects with the reason', async () => {
    const controller = new AbortController();
    const reason = new Error('shutting down');
    let sleeping = false;
    // Never resolves: only the abort can end the wait.
    const sleep: Sleep = () => {
      sleeping = true;
      queueMicrotask(() => controller.abort(reason));
      return new Promise<void>(() => {});
    };
    const { fn, attempts } = failing([unreachable(), unreachable()], 'never');
    await assert.rejects(
      withRetry(fn, { delaysMs: [1000, 1000], isRetryable: () => true, signal: controller.signal, clock: { sleep } }),
      reason,
    );
    assert.equal(sleeping, true);
    assert.deepEqual(attempts, [1]);
  });

  it('passes the signal to the sleep, whose abort rejection wins', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    let seen: AbortSignal | undefined;
    const sleep: Sleep = (_ms, signal) => {
      seen = signal;
      controller.abort(reason);
      return Promise.reject(signal?.reason as Error);
    };
    const { fn } = failing([unreachable()], 'never');
    await assert.rejects(
      withRetry(fn, { delaysMs: [5], isRetryable: () => true, signal: controller.signal, clock: { sleep } }),
      reason,
    );
    assert.equal(seen, controller.signal);
  });

  it('does not call fn when the signal is already aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('already stopped');
    controller.abort(reason);
    const { fn, attempts } = failing([], 'never');
    await assert.rejects(withRetry(fn, { delaysMs: [1], isRetryable: () => true, signal: controller.signal }), reason);
    assert.deepEqual(attempts, []);
  });

  it('rejects with the abort reason when the signal aborts during an attempt', async () => {
    const controller = new AbortController();
    const reason = new Error('aborted mid-call');
    const { sleep, slept } = recordingSleep();
    const fn = (): Promise<never> => {
      controller.abort(reason);
      return Promise.reject(unreachable());
    };
    await assert.rejects(
      withRetry(fn, { delaysMs: [1], isRetryable: () => true, signal: controller.signal, clock: { sleep } }),
      reason,
    );
    assert.deepEqual(slept, []);
  });

  it("the default clock (Node's timers) is abortable", async () => {
    const controller = new AbortController();
    const reason = new Error('stop now');
    const { fn } = failing([unreachable()], 'never');
    // A one-hour wait would hang the test run if the abort did not cut it short.
    const pending = withRetry(fn, {
      delaysMs: [3_600_000],
      isRetryable: () => true,
      signal: controller.signal,
      onRetry: () => queueMicrotask(() => controller.abort(reason)),
    });
    await assert.rejects(pending, reason);
  });

  it('keeps the delays of Plancton 0.6', () => {
    assert.deepEqual(RETRY_DELAYS_MS, [3000, 6000, 12000, 24000]);
  });
});
