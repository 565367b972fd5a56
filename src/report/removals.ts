import type { RemoveReason } from '../core/decision.ts';

/** How one pilot ended: kept for status and monitoring, logged as one structured line. */
export interface Removal {
  readonly id: string;
  readonly name: string;
  readonly reason: RemoveReason;
  readonly exitCode: number | undefined;
  readonly oomKilled: boolean;
  /** Seconds between start and finish (or removal, if it never finished on its own). */
  readonly uptimeSec: number | undefined;
  readonly startedAt: number | undefined;
  readonly removedAt: number;
  /** The pilot had been started (0.6's `started` tag) and was killed by Plancton (0.6's `killed` tag). */
  readonly started: boolean;
  readonly killed: boolean;
}

/** A bounded record of the latest removals, with listeners for the reporters. */
export class RemovalLog {
  readonly #max: number;
  readonly #items: Removal[] = [];
  readonly #listeners: Array<(r: Removal) => void> = [];
  #total = 0;

  constructor(max = 100) {
    this.#max = max;
  }

  add(r: Removal): void {
    this.#items.push(r);
    if (this.#items.length > this.#max) this.#items.shift();
    this.#total++;
    for (const l of this.#listeners) l(r);
  }

  onRemoval(listener: (r: Removal) => void): void {
    this.#listeners.push(listener);
  }

  /** Newest last. */
  latest(n = this.#max): Removal[] {
    return this.#items.slice(-n);
  }

  get total(): number {
    return this.#total;
  }
}
