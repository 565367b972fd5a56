import type { Clock } from '../common/clock.ts';
import { Ticker } from './ticker.ts';

/** What the CPU watch reads with, decides by and wakes. */
export interface CpuWatchDeps {
  /** The owner's CPU since the last read (percent of the host); undefined: no figure this time. */
  readonly read: () => Promise<number | undefined>;
  /** The owner's figure over which the host is over the CPU margin, by the last pass; undefined: nothing to watch for. */
  readonly threshold: () => number | undefined;
  /** False while the daemon's own engine work (a pass) runs or has just run: its CPU would read as the owner's. */
  readonly quiet: () => boolean;
  /** Told the owner's figure that passed the threshold. */
  readonly onOver: (ownerPct: number) => void;
  readonly clock: Clock;
}

/**
 * Reads the owner's CPU a few times a second, between passes, and calls `onOver` once two
 * readings in a row are over the line the last pass drew, so that pilots are paused within a
 * second of the owner's rise rather than at the next `main_sleep`. A reading whose interval overlapped the daemon's own
 * engine work is dropped. Waits on the injected clock, so that tests drive it.
 */
export class CpuWatch {
  readonly #ticker: Ticker;
  /** Settles once the watch has ended (after close()). */
  readonly done: Promise<void>;

  constructor(deps: CpuWatchDeps, intervalMs: number) {
    let wasQuiet = deps.quiet();
    let overBefore = false;
    this.#ticker = new Ticker(deps.clock, intervalMs, async (signal) => {
      const quiet = deps.quiet();
      try {
        const pct = await deps.read();
        const line = deps.threshold();
        // the whole interval must have been quiet: its start (the last tick) and its end
        const over = quiet && wasQuiet && pct !== undefined && line !== undefined && pct > line;
        // two readings over the line in a row: the second lies wholly after the owner's rise, so the
        // pass it wakes pauses for all of it at once (a lone tick over the line is a spike)
        if (over && overBefore && !signal.aborted) deps.onOver(pct);
        overBefore = over;
      } finally {
        wasQuiet = quiet && deps.quiet();
      }
    });
    this.done = this.#ticker.done;
  }

  close(): void {
    this.#ticker.close();
  }
}
