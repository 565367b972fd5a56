import type { Clock } from '../common/clock.ts';

/**
 * What reaches the control loop from outside a pass: a stop (finish the action in flight, then
 * end), an abort (a second stop signal: every engine call gives up at once), a wake (run the next
 * pass soon) and an urgent wake (memory: at once). One object, so that the loop's fields stay few.
 */
export class LoopSignals {
  readonly #stop = new AbortController();
  readonly #abort = new AbortController();
  #wake = new AbortController();
  #urgent = new AbortController();
  /** Set by a wake that makes the pass in flight stale; cleared when a pass begins. */
  #replan = false;
  /**
   * A wake (and whether urgent) since the last pass began: one that came during a pass is not lost
   * with the controllers the next sleep makes anew (an event storm's later deaths), and it brings
   * the next pass after the minimum interval only, so that many wakes make one pass, not a pile-up.
   */
  #woken: 'no' | 'yes' | 'urgent' = 'no';

  /** Aborted by the stop: no new action, no more sleeping. */
  get stopSignal(): AbortSignal {
    return this.#stop.signal;
  }

  /** Aborted by a second stop signal: handed to every engine call. */
  get abortSignal(): AbortSignal {
    return this.#abort.signal;
  }

  get stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  /** Whether a wake since the pass began made what it decided by stale. */
  get replan(): boolean {
    return this.#replan;
  }

  stop(): void {
    this.#stop.abort();
    this.#wake.abort();
  }

  /** Gives up the engine calls in flight (and stops). */
  abort(): void {
    this.stop();
    this.#abort.abort();
  }

  /** A pass begins: earlier wakes are taken into account by it. */
  beginPass(): void {
    this.#replan = false;
    this.#woken = 'no';
  }

  wake(urgent: boolean, replan: boolean): void {
    this.#woken = urgent ? 'urgent' : this.#woken === 'urgent' ? 'urgent' : 'yes';
    this.#wake.abort();
    if (urgent) this.#urgent.abort();
    if (replan) this.#replan = true;
  }

  /** Sleeps `ms`; a wake cuts it short but never below `minMs`, an urgent one at once; a stop always. */
  async sleep(clock: Clock, ms: number, wakeable: boolean, minMs: number): Promise<void> {
    const min = Math.min(ms, minMs);
    this.#wake = new AbortController();
    this.#urgent = new AbortController();
    // woken while the last pass ran: as if the wake came now
    if (wakeable && this.#woken !== 'no') {
      if (this.#woken === 'urgent') this.#urgent.abort();
      this.#wake.abort();
    }
    const stop = this.#stop.signal;
    const signal = wakeable ? AbortSignal.any([stop, this.#wake.signal]) : stop;
    const urgent = wakeable ? AbortSignal.any([stop, this.#urgent.signal]) : stop;
    await clock.sleep(min, urgent).catch(() => undefined);
    if (ms > min) await clock.sleep(ms - min, signal).catch(() => undefined);
  }
}
