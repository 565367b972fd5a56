import type { ConfigProblem } from '../../core/errors.ts';
import type { HostFacts } from '../../core/pilot-shape.ts';
import type { CompiledExpression } from './expression.ts';

export type { HostFacts } from '../../core/pilot-shape.ts';

/** The two sizes of a pilot that `max_docks` may read. */
type PilotSizes = { readonly max_dock_mem: number; readonly max_dock_swap: number };

/**
 * The variables of `max_docks`, as in 0.6, and where each value comes from: the host's facts or
 * the pilot's size. The one list: the names the expression may use and the values it is evaluated on.
 */
const VARIABLES = {
  ncpus: (h: HostFacts) => h.ncpus,
  ram_bytes: (h: HostFacts) => h.ramBytes,
  swap_bytes: (h: HostFacts) => h.swapBytes,
  max_dock_mem: (_h: HostFacts, s: PilotSizes) => s.max_dock_mem,
  max_dock_swap: (_h: HostFacts, s: PilotSizes) => s.max_dock_swap,
} as const satisfies Record<string, (h: HostFacts, s: PilotSizes) => number>;

/** Names `max_docks` may use. */
export const MAX_DOCKS_NAMES = Object.keys(VARIABLES) as ReadonlyArray<keyof typeof VARIABLES>;

/** The names whose value depends on the host (a value negative without them is a mistake anywhere). */
const HOST_NAMES: ReadonlySet<string> = new Set(['ncpus', 'ram_bytes', 'swap_bytes'] satisfies Array<
  keyof typeof VARIABLES
>);

/** The values of the variables on a host, for a pilot of this size. */
export function maxDocksValues(h: HostFacts, s: PilotSizes): Record<string, number> {
  return Object.fromEntries(MAX_DOCKS_NAMES.map((n) => [n, VARIABLES[n](h, s)]));
}

/** More pilots than this on one host is a mistake, not a plan. */
export const MAX_DOCKS_LIMIT = 100_000;

/**
 * Evaluates `max_docks` on this host, so that an expression that cannot be evaluated here
 * (`ncpus/0`, `10**10**10`) is refused when it is loaded instead of meaning "no pilot" at run
 * time. A negative value that does not depend on the host is refused; an expression that is negative on this host only (0.6's
 * default `ncpus - 2` on a 1-CPU host) means no pilot, as in 0.6, and is said in a warning.
 */
export function checkMaxDocks(
  s: PilotSizes & { readonly max_docks: number | string },
  expr: CompiledExpression,
  facts: HostFacts,
  problems: ConfigProblem[],
  warnings: string[],
): void {
  const on = `on this host (ncpus ${facts.ncpus}, ram_bytes ${facts.ramBytes}, swap_bytes ${facts.swapBytes})`;
  let v: number;
  try {
    v = expr.evaluate(maxDocksValues(facts, s));
  } catch (err) {
    problems.push({
      key: 'max_docks',
      message: `"${String(s.max_docks)}" cannot be evaluated ${on}: ${(err as Error).message}`,
    });
    return;
  }
  if (v > MAX_DOCKS_LIMIT) {
    problems.push({
      key: 'max_docks',
      message: `"${String(s.max_docks)}" is ${v} ${on}, more than ${MAX_DOCKS_LIMIT} pilots`,
    });
  } else if (v < 0 && !expr.names.some((n) => HOST_NAMES.has(n))) {
    problems.push({ key: 'max_docks', message: `must not be negative, not ${v}` });
  } else if (v < 0) {
    warnings.push(`max_docks "${s.max_docks}" is ${v} ${on}: no pilot will run`);
  }
}
