import type { MemoryReading } from '../host/observer.ts';
import type { Clock } from '../common/clock.ts';
import { Ticker } from './ticker.ts';

/** What the memory watch reads with, decides by and wakes. */
export interface MemoryWatchDeps {
  readonly read: () => Promise<MemoryReading>;
  /** Whether memory is short by the last pass's policy, counting what its removals still give back. */
  readonly isShort: (m: MemoryReading) => boolean;
  readonly onShort: () => void;
  readonly clock: Clock;
}

/**
 * Reads MemAvailable (and PSI memory) a few times a second, between passes, through the host
 * observer, and calls `onShort` as soon as `isShort` says memory is short, so that pilots go
 * before the kernel's OOM killer picks an owner's process. Two small file reads per tick; waits
 * on the injected clock, so that tests drive it.
 */
export class MemoryWatch {
  readonly #ticker: Ticker;
  /** Settles once the watch has ended (after close()). */
  readonly done: Promise<void>;

  constructor(deps: MemoryWatchDeps, intervalMs: number) {
    // an unreadable /proc/meminfo: the pass reports it; the watch reads again at the next tick
    this.#ticker = new Ticker(deps.clock, intervalMs, async (signal) => {
      if (deps.isShort(await deps.read()) && !signal.aborted) deps.onShort();
    });
    this.done = this.#ticker.done;
  }

  close(): void {
    this.#ticker.close();
  }
}
