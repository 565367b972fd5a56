/** `/proc/meminfo`, pure: the sampler does the reading. */
import { ProcParseError } from '../core/errors.ts';
import type { MemorySample } from '../core/decision.ts';
import { parseZoneinfo, perCpuFreeBytes } from './zoneinfo.ts';

const KIB = 1024;

/**
 * The host's memory from `/proc/meminfo` and `/proc/zoneinfo` (see zoneinfo.ts): `availableBytes`
 * is MemAvailable plus the free pages in the kernel's per-CPU lists (`perCpuFreeBytes`), which
 * MemAvailable leaves out. Without zoneinfo (a missing file) or a page size, it is MemAvailable alone.
 * @throws ProcParseError as parseMeminfo and parseZoneinfo do.
 */
export function parseMemory(
  meminfo: string,
  zoneinfo: string | undefined,
  pageSize: number | undefined,
  files = { meminfo: '/proc/meminfo', zoneinfo: '/proc/zoneinfo' },
): MemorySample {
  const sample = parseMeminfo(meminfo, files.meminfo);
  if (zoneinfo === undefined || pageSize === undefined) return sample;
  const perCpu = perCpuFreeBytes(parseZoneinfo(zoneinfo, files.zoneinfo), pageSize);
  return { ...sample, availableBytes: sample.availableBytes + perCpu, perCpuFreeBytes: perCpu };
}

/**
 * Parses `/proc/meminfo` into bytes (the kernel's `kB` is KiB).
 * Kernels before 3.14 lack `MemAvailable`: it is estimated as `MemFree + Buffers + Cached`,
 * the usual pre-3.14 approximation (it overstates a little: not all cache is reclaimable).
 * Missing swap lines count as no swap.
 * @param file - Named in errors.
 * @throws ProcParseError when `MemTotal` is missing, or a needed value is malformed.
 */
export function parseMeminfo(text: string, file = '/proc/meminfo'): MemorySample {
  const raw = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) raw.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const bytes = (key: string): number | undefined => {
    const value = raw.get(key);
    if (value === undefined) return undefined;
    const match = /^(\d+)(?:\s+kB)?$/.exec(value);
    if (match === null) throw new ProcParseError(file, `malformed ${key} value "${value}"`);
    return Number(match[1]) * (value.endsWith('kB') ? KIB : 1);
  };

  const totalBytes = bytes('MemTotal');
  if (totalBytes === undefined) throw new ProcParseError(file, 'no MemTotal line');
  let availableBytes = bytes('MemAvailable');
  if (availableBytes === undefined) {
    const free = bytes('MemFree');
    if (free === undefined) throw new ProcParseError(file, 'neither MemAvailable nor MemFree');
    availableBytes = free + (bytes('Buffers') ?? 0) + (bytes('Cached') ?? 0);
  }
  return {
    totalBytes,
    availableBytes,
    swapTotalBytes: bytes('SwapTotal') ?? 0,
    swapFreeBytes: bytes('SwapFree') ?? 0,
  };
}
