import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostFacts } from '../core/pilot-shape.ts';
import { parseMeminfo } from './meminfo.ts';
import { parseProcStat } from './proc-stat.ts';

/** Reads what `max_docks` may use from `procRoot` (the host's /proc), with the sampler's parsers. */
export function readHostFacts(procRoot: string): HostFacts {
  const stat = parseProcStat(readFileSync(join(procRoot, 'stat'), 'utf8'), join(procRoot, 'stat'));
  const mem = parseMeminfo(readFileSync(join(procRoot, 'meminfo'), 'utf8'), join(procRoot, 'meminfo'));
  return { ncpus: stat.cpus.size, ramBytes: mem.totalBytes, swapBytes: mem.swapTotalBytes };
}
