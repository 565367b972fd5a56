/**
 * What inspecting a pilot said (when it started, when and how it ended), kept while the engine's
 * event stream is open, so that a pass over hundreds of pilots lists them in one call instead of
 * inspecting each one every pass (500 pilots: about 160 ms of the daemon's CPU a pass).
 *
 * The engine's list gives a container's state but not its times. Those change only when the
 * container starts or ends, and the engine tells each start and end on the event stream; a change of
 * state in the list shows it as well. So an entry holds while its container's listed state is the
 * one it was inspected in and no start or end of that container has come since. Nothing is kept
 * while no stream is open (a restart could go unseen), and all is forgotten when one opens or
 * closes. An inspection that was under way when an event came is not kept: it may predate the event.
 */
import type { PilotState } from '../core/decision.ts';

/** A pilot's times and exit as inspected in `state`. */
export interface Inspected {
  readonly state: PilotState;
  readonly startedAt?: number | undefined;
  readonly finishedAt?: number | undefined;
  readonly exitCode?: number | undefined;
}

/** Events after which a container's times or exit differ from what was inspected. */
const CHANGES: ReadonlySet<string> = new Set(['start', 'restart', 'die', 'kill', 'oom', 'destroy']);

export class InspectCache {
  readonly #byId = new Map<string, Inspected>();
  /** Event streams open now. */
  #open = 0;
  /** Counts the events (and stream changes) that forgot something: an inspection begun before one is not kept. */
  #epoch = 0;

  /** An event stream opened: what was kept before it may have missed an event. */
  opened(): void {
    this.#open++;
    this.#forgetAll();
  }

  /** An event stream closed: nothing is kept until one is open again. */
  closed(): void {
    this.#open = Math.max(0, this.#open - 1);
    this.#forgetAll();
  }

  /** An event of container `id`. */
  event(id: string, action: string): void {
    // the engine sends e.g. "exec_start: sh" too: only the action's first word counts
    if (!CHANGES.has(action.split(':')[0] ?? '')) return;
    this.#byId.delete(id);
    this.#epoch++;
  }

  /** What was inspected of `id` in the state it is listed in now; undefined: inspect it. */
  get(id: string, state: PilotState): Inspected | undefined {
    if (this.#open === 0) return undefined;
    const e = this.#byId.get(id);
    return e?.state === state ? e : undefined;
  }

  /** A mark to take before an inspection, for `set`. */
  mark(): number {
    return this.#epoch;
  }

  /** Keeps what inspecting `id` said, unless an event came since `mark` was taken or no stream is open. */
  set(id: string, value: Inspected, mark: number): void {
    if (this.#open > 0 && mark === this.#epoch) this.#byId.set(id, value);
  }

  /** Forgets the containers not listed any more. */
  keepOnly(ids: ReadonlySet<string>): void {
    for (const id of this.#byId.keys()) if (!ids.has(id)) this.#byId.delete(id);
  }

  get size(): number {
    return this.#byId.size;
  }

  #forgetAll(): void {
    this.#byId.clear();
    this.#epoch++;
  }
}
