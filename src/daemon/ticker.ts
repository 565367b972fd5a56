import type { Clock } from '../common/clock.ts';

/**
 * Runs `tick` every `intervalMs` on the injected clock until closed: the loop of the watches that
 * read the host between passes. A tick that throws is skipped (the pass reports what it cannot
 * read); the next tick comes all the same.
 */
export class Ticker {
  readonly #stop = new AbortController();
  /** Settles once the ticker has ended (after close()). */
  readonly done: Promise<void>;

  constructor(clock: Clock, intervalMs: number, tick: (signal: AbortSignal) => Promise<void>) {
    this.done = this.#run(clock, intervalMs, tick);
  }

  async #run(clock: Clock, intervalMs: number, tick: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        await clock.sleep(intervalMs, signal);
      } catch {
        return; // closed
      }
      await tick(signal).catch(() => undefined);
    }
  }

  close(): void {
    this.#stop.abort();
  }
}
