/** Pressure stall information (`/proc/pressure/{cpu,memory,io}`), pure. */
import { ProcParseError } from '../core/errors.ts';
import type { Pressure, PressureLine } from '../core/decision.ts';

const KEYS = ['avg10', 'avg60', 'avg300', 'total'] as const;

/**
 * Parses one PSI file: a `some` line and, except for `cpu` before Linux 5.13, a `full` line.
 * Unknown `key=value` pairs are ignored so that a kernel adding one does not break us.
 * @param file - Named in errors.
 * @throws ProcParseError without a `some` line, or with a line missing or malforming a key.
 */
export function parsePressure(text: string, file = '/proc/pressure'): Pressure {
  let some: PressureLine | undefined;
  let full: PressureLine | undefined;
  for (const line of text.split('\n')) {
    const [kind, ...pairs] = line.trim().split(/\s+/);
    if (kind === 'some') some = parseLine(pairs, file, line);
    else if (kind === 'full') full = parseLine(pairs, file, line);
  }
  if (some === undefined) throw new ProcParseError(file, 'no "some" line');
  return { some, full };
}

function parseLine(pairs: readonly string[], file: string, line: string): PressureLine {
  const values = new Map<string, string>();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq > 0) values.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const out: Record<(typeof KEYS)[number], number> = { avg10: 0, avg60: 0, avg300: 0, total: 0 };
  for (const key of KEYS) {
    const value = values.get(key);
    if (value === undefined || !/^\d+(?:\.\d+)?$/.test(value)) {
      throw new ProcParseError(file, `missing or malformed ${key} in "${line}"`);
    }
    out[key] = Number(value);
  }
  return out;
}
