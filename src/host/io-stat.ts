/** cgroup v2 `io.stat`, pure. */
import { ProcParseError } from '../core/errors.ts';

/** One device's cumulative counters from `io.stat` (Documentation/admin-guide/cgroup-v2.rst). */
export interface IoStatCounts {
  readonly rbytes: number;
  readonly wbytes: number;
  readonly rios: number;
  readonly wios: number;
  readonly dbytes: number;
  readonly dios: number;
}

const KEYS = ['rbytes', 'wbytes', 'rios', 'wios', 'dbytes', 'dios'] as const;

/**
 * Parses `io.stat`: one line per device, `MAJ:MIN key=value ...`. Keys it does not know (the
 * `cost.*` of io.cost, `use_delay` of io.latency) are skipped; a missing known key counts as 0.
 * @param file - Named in errors.
 * @throws ProcParseError on a line without a `MAJ:MIN` or with a known key whose value is not a count.
 */
export function parseIoStat(text: string, file = 'io.stat'): Map<string, IoStatCounts> {
  const out = new Map<string, IoStatCounts>();
  for (const line of text.split('\n')) {
    const [dev = '', ...pairs] = line.trim().split(/\s+/);
    if (dev === '') continue;
    if (!/^\d+:\d+$/.test(dev)) throw new ProcParseError(file, `no MAJ:MIN in "${line.trim()}"`);
    const c: Record<(typeof KEYS)[number], number> = { rbytes: 0, wbytes: 0, rios: 0, wios: 0, dbytes: 0, dios: 0 };
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      const key = pair.slice(0, eq) as (typeof KEYS)[number];
      if (eq <= 0 || !KEYS.includes(key)) continue;
      const value = pair.slice(eq + 1);
      if (!/^\d+$/.test(value)) throw new ProcParseError(file, `malformed ${key} in "${line.trim()}"`);
      c[key] = Number(value);
    }
    out.set(dev, c);
  }
  return out;
}
