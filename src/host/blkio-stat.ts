/** cgroup v1 blkio counters (`blkio.throttle.io_service_bytes`, `..._serviced`, `_recursive`), pure. */
import { ProcParseError } from '../core/errors.ts';

/** One device's counters from a v1 blkio file: bytes or requests, by the file. */
export interface BlkioCounts {
  readonly read: number;
  readonly write: number;
  /** Kernel 4.14+; 0 before. */
  readonly discard: number;
}

const OPS = new Set(['Read', 'Write', 'Sync', 'Async', 'Discard', 'Total']);

/**
 * Parses a v1 blkio stat file: `MAJ:MIN Op value` lines (Op one of Read, Write, Sync, Async,
 * Discard, Total) and a last `Total value` line. An empty file (no I/O yet) gives an empty map.
 * @param file - Named in errors.
 * @throws ProcParseError on a line of another shape or a value that is not a count.
 */
export function parseBlkioStat(text: string, file = 'blkio.throttle.io_service_bytes'): Map<string, BlkioCounts> {
  const out = new Map<string, { read: number; write: number; discard: number }>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length === 1 && f[0] === '') continue;
    if (f.length === 2 && f[0] === 'Total') {
      if (!/^\d+$/.test(f[1] ?? '')) throw new ProcParseError(file, `malformed total in "${line.trim()}"`);
      continue;
    }
    const [dev = '', op = '', value = ''] = f;
    if (f.length !== 3 || !/^\d+:\d+$/.test(dev) || !OPS.has(op) || !/^\d+$/.test(value))
      throw new ProcParseError(file, `unexpected line "${line.trim()}"`);
    const c = out.get(dev) ?? { read: 0, write: 0, discard: 0 };
    if (op === 'Read') c.read = Number(value);
    else if (op === 'Write') c.write = Number(value);
    else if (op === 'Discard') c.discard = Number(value);
    out.set(dev, c);
  }
  return out;
}
