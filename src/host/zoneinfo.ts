/**
 * `/proc/zoneinfo`, pure: the sampler does the reading.
 *
 * Free pages the kernel keeps in its per-CPU lists are not in `MemFree`, so not in `MemAvailable`
 * either. Since Linux 6.7 those lists grow on their own after a large free (the pcp "high"
 * auto-tuning) and drain slowly: on this project's 2-core VM (Linux 6.18) a pilot holding 1 GiB
 * that is removed shows only 600 MiB back in MemAvailable at once, the rest coming back at about
 * 16 MiB/s, while MemAvailable plus the per-CPU lists is back by 1029 MiB within 0.2 s and stays
 * (lists of 235-790 MiB measured). Those pages are free: allocations take them first and the
 * kernel drains the lists before it reclaims. Counting them is what lets the memory rule see a
 * removed pilot's memory back at once instead of taking more pilots for it.
 */
import { ProcParseError } from '../core/errors.ts';

export interface ZoneFree {
  /** The zones (their `pages free` lines). */
  readonly zones: number;
  /** The free pages in the per-CPU lists of every zone (`count:` of each pageset), in pages. */
  readonly perCpuPages: number;
}

/**
 * @param file - Named in errors.
 * @throws ProcParseError when no zone has a `pages free` line or a count is malformed.
 */
export function parseZoneinfo(text: string, file = '/proc/zoneinfo'): ZoneFree {
  let perCpuPages = 0;
  let zones = 0;
  for (const line of text.split('\n')) {
    const free = /^\s+pages free\s+(\S+)\s*$/.exec(line);
    const count = free ? undefined : /^\s+count:\s+(\S+)\s*$/.exec(line);
    const value = free?.[1] ?? count?.[1];
    if (value === undefined) continue;
    if (!/^\d+$/.test(value)) throw new ProcParseError(file, `malformed ${free ? 'pages free' : 'count'} "${value}"`);
    if (free) zones++;
    else perCpuPages += Number(value);
  }
  if (zones === 0) throw new ProcParseError(file, 'no zone ("pages free" line)');
  return { zones, perCpuPages };
}

/** The bytes in the per-CPU lists, in the kernel's page size (`pageSize`, host/page-size.ts). */
export function perCpuFreeBytes(zones: ZoneFree, pageSize: number): number {
  return zones.perCpuPages * pageSize;
}
