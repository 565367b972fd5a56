/**
 * The functions and the Python arithmetic that `max_docks` expressions may use. Results match
 * Python 3 on floats, so that a Plancton 0.6 setting keeps its meaning.
 */

/** A callable function: arity bounds (checked when compiling) and its implementation. */
export interface Builtin {
  readonly minArgs: number;
  readonly maxArgs: number;
  readonly apply: (args: readonly number[]) => number;
}

const single = (fn: (x: number) => number): Builtin => ({
  minArgs: 1,
  maxArgs: 1,
  apply: (args) => fn(args[0] ?? NaN),
});

/** The function table; a Map, so that `constructor` or `__proto__` are never found in it. */
export const BUILTINS: ReadonlyMap<string, Builtin> = new Map<string, Builtin>([
  ['min', { minArgs: 1, maxArgs: Infinity, apply: (args) => Math.min(...args) }],
  ['max', { minArgs: 1, maxArgs: Infinity, apply: (args) => Math.max(...args) }],
  ['abs', single(Math.abs)],
  ['floor', single(Math.floor)],
  ['ceil', single(Math.ceil)],
  ['round', single(roundHalfEven)],
  ['int', single(Math.trunc)],
]);

/** Python's `round(x)`: ties go to the even neighbour (`round(2.5) == 2`), unlike `Math.round`. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction !== 0.5) return fraction < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Python's `a % b` (sign of the divisor), built on the exact `fmod` as CPython does rather than
 * `a - floor(a / b) * b`, which loses precision. `b` must not be zero.
 */
export function pythonMod(a: number, b: number): number {
  const mod = a % b;
  if (mod === 0) return 0;
  return b < 0 !== mod < 0 ? mod + b : mod;
}

/**
 * Python's `a // b`, CPython's algorithm: `Math.floor(a / b)` is wrong when the quotient rounds
 * up to an integer (`1 // 0.1` is 9 in Python, `Math.floor(1 / 0.1)` is 10). `b` must not be zero.
 */
export function floorDiv(a: number, b: number): number {
  const mod = a % b;
  let div = (a - mod) / b;
  if (mod !== 0 && b < 0 !== mod < 0) div -= 1;
  if (div === 0) return 0;
  const floor = Math.floor(div);
  return div - floor > 0.5 ? floor + 1 : floor;
}
