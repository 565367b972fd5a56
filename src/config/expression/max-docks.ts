import type { ConfigProblem } from '../../core/errors.ts';
import type { HostFacts } from '../../core/shapes.ts';
import type { CompiledExpression } from './expression.ts';
import type { Settings } from '../schema/keys.ts';

export type { HostFacts } from '../../core/shapes.ts';

/** More pilots than this on one host is a mistake, not a plan. */
export const MAX_DOCKS_LIMIT = 100_000;

/**
 * Evaluates `max_docks` on this host, so that an expression that cannot be evaluated here
 * (`ncpus/0`, `10**10**10`) is refused when it is loaded instead of meaning "no pilot" at run
 * time. A negative value that does not depend on the host is refused; an expression that is negative on this host only (0.6's
 * default `ncpus - 2` on a 1-CPU host) means no pilot, as in 0.6, and is said in a warning.
 */
export function checkMaxDocks(
  s: Readonly<Settings>,
  expr: CompiledExpression,
  facts: HostFacts,
  problems: ConfigProblem[],
  warnings: string[],
): void {
  const on = `on this host (ncpus ${facts.ncpus}, ram_bytes ${facts.ramBytes}, swap_bytes ${facts.swapBytes})`;
  let v: number;
  try {
    v = expr.evaluate({
      ncpus: facts.ncpus,
      ram_bytes: facts.ramBytes,
      swap_bytes: facts.swapBytes,
      max_dock_mem: s.max_dock_mem,
      max_dock_swap: s.max_dock_swap,
    });
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
  } else if (v < 0 && !expr.names.some((n) => n === 'ncpus' || n === 'ram_bytes' || n === 'swap_bytes')) {
    problems.push({ key: 'max_docks', message: `must not be negative, not ${v}` });
  } else if (v < 0) {
    warnings.push(`max_docks "${s.max_docks}" is ${v} ${on}: no pilot will run`);
  }
}
