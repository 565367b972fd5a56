/** A clock for unit tests: time moves only when the code under test sleeps. */
import type { Clock } from '../../src/common/clock.ts';

export class FakeClock implements Clock {
  /** Every sleep asked for, in ms, in order. */
  readonly slept: number[] = [];
  #now: number;

  constructor(start = Date.now()) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  monotonic(): number {
    return this.#now;
  }

  advance(ms: number): void {
    this.#now += ms;
  }

  /**
   * Moves time on by `ms` and resolves on the next turn of the event loop, so that engine calls
   * settling at once (in microtasks) still come first; rejects at once when `signal` aborts.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.slept.push(ms);
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const onAbort = (): void => {
        clearImmediate(timer);
        reject(signal?.reason as Error);
      };
      const timer = setImmediate(() => {
        signal?.removeEventListener('abort', onAbort);
        this.#now += ms;
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
