/** The thin shell around the /proc parsers: reads files under a configurable proc root. */
import { readKernelFile } from './kernel-file.ts';
import type { HostSample, MemorySample, Pressure } from '../core/decision.ts';
import { parseMemory } from './meminfo.ts';
import { kernelPageSize } from './page-size.ts';
import { parsePressure } from './pressure.ts';
import { cpuUsage, parseProcStat, type ProcStat } from './proc-stat.ts';

export interface HostSamplerOptions {
  /** Where the host's procfs is mounted: `/proc`, or `/host/proc` inside a container. */
  readonly procRoot?: string;
  /**
   * Told about a pressure file that exists but could not be read or parsed; the sample then
   * carries no pressure for that resource. A missing file (kernel without PSI) is not reported.
   */
  readonly onPressureError?: (error: unknown) => void;
}

const PSI_RESOURCES = ['cpu', 'memory', 'io'] as const;

/**
 * Reads host samples. Keeps the previous `/proc/stat` reading, so every sample after the first
 * carries the CPU busy share over the interval since the one before.
 */
export class HostSampler {
  readonly #procRoot: string;
  readonly #onPressureError: (error: unknown) => void;
  #prevStat: ProcStat | undefined;

  constructor(options: HostSamplerOptions = {}) {
    this.#procRoot = options.procRoot ?? '/proc';
    this.#onPressureError = options.onPressureError ?? (() => undefined);
  }

  /**
   * Reads stat, meminfo (with zoneinfo) and PSI.
   * @param now - Stamped on the sample as `at`; the CPU interval itself comes from the kernel.
   * @throws the fs error when stat or meminfo cannot be read, ProcParseError when malformed.
   */
  async sample(now: number): Promise<HostSample> {
    const statFile = `${this.#procRoot}/stat`;
    const [statText, memorySample, cpu, memory, io] = await Promise.all([
      readKernelFile(statFile),
      readMemory(this.#procRoot),
      ...PSI_RESOURCES.map((resource) => this.#readPressure(resource)),
    ]);
    const stat = parseProcStat(statText, statFile);
    const prev = this.#prevStat;
    // Only a fully successful sample moves the baseline, so a failed one loses no CPU time.
    this.#prevStat = stat;
    const anyPressure = cpu !== undefined || memory !== undefined || io !== undefined;
    return {
      at: now,
      ncpus: stat.cpus.size,
      cpu: prev === undefined ? undefined : cpuUsage(prev, stat),
      memory: memorySample,
      pressure: anyPressure ? { cpu, memory, io } : undefined,
    };
  }

  async #readPressure(resource: (typeof PSI_RESOURCES)[number]): Promise<Pressure | undefined> {
    const file = `${this.#procRoot}/pressure/${resource}`;
    try {
      return parsePressure(await readKernelFile(file), file);
    } catch (error) {
      if (!isMissing(error)) this.#onPressureError(error);
      return undefined;
    }
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * The host's memory: `meminfo`, and `zoneinfo` for the free pages in the per-CPU lists (see
 * zoneinfo.ts; a kernel or procfs without the file gives MemAvailable alone).
 * @throws the fs error when meminfo, or a zoneinfo that exists, cannot be read; ProcParseError when malformed.
 */
export async function readMemory(procRoot: string): Promise<MemorySample> {
  const files = { meminfo: `${procRoot}/meminfo`, zoneinfo: `${procRoot}/zoneinfo` };
  const [meminfo, zoneinfo] = await Promise.all([
    readKernelFile(files.meminfo),
    readKernelFile(files.zoneinfo).catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    }),
  ]);
  return parseMemory(meminfo, zoneinfo, kernelPageSize(), files);
}
