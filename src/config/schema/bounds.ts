/**
 * Bounds of every numeric key. convict's formats check the type; these check that the value
 * makes sense: a time must fit Node's timer (setTimeout silently turns anything over
 * 2^31-1 ms into 1 ms, so a huge interval would become a busy loop), a rate has a floor so
 * that no value turns the loop into a storm of engine calls, and a size stays an exact
 * integer. The Helm chart's values.schema.json is generated from the same table.
 */
export interface Bound {
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
  /** Values that are allowed although they are under `min` (e.g. 0 meaning "off"). */
  readonly also?: readonly number[];
  /** Why the minimum is what it is, said in the error. */
  readonly why?: string;
}

/** Node's timers hold at most 2^31-1 ms: the longest time in seconds any key may hold. */
export const TIMER_MAX_S = Math.floor((2 ** 31 - 1) / 1000);

/** Docker refuses a memory limit under 6 MiB. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

/** The kernel refuses a CFS quota under 1 ms: cpus_per_dock * 100000 us must be at least 1000 us. */
export const MIN_CPUS_PER_DOCK = 0.01;

export const time = (min = 0, why?: string): Bound => ({ min, max: TIMER_MAX_S, ...(why ? { why } : {}) });
export const wholeTime = (): Bound => ({ min: 0, max: TIMER_MAX_S, integer: true });
export const percent: Bound = { min: 0, max: 100 };
export const BYTES_MAX = Number.MAX_SAFE_INTEGER;

function describe(b: Bound): string {
  const unit = b.max === TIMER_MAX_S ? ' seconds' : '';
  const kind = b.integer ? 'a whole number' : 'a number';
  const also = b.also?.length ? ` (or ${b.also.join(', ')})` : '';
  return `must be ${kind} from ${b.min} to ${b.max}${unit}${also}`;
}

/** One value against its bound: the reason it is refused, or undefined. */
export function outOfBounds(value: number, b: Bound): string | undefined {
  if (b.also?.includes(value)) return undefined;
  if (!Number.isFinite(value)) return `${describe(b)}, not ${value}`;
  if (b.integer && !Number.isInteger(value)) return `${describe(b)}, not ${value}`;
  if (value < b.min) return `${describe(b)}, not ${value}${b.why ? `: ${b.why}` : ''}`;
  if (value > b.max)
    return `${describe(b)}, not ${value}${b.max === TIMER_MAX_S ? ' (the longest time a timer can hold)' : ''}`;
  return undefined;
}
