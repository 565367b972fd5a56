/** The thin shell around the /proc parsers: reads files under a configurable proc root. */
import { readKernelFile } from './kernel-file.ts';
import type { HostSample, Pressure } from '../core/types.ts';
import { parseMeminfo } from './meminfo.ts';
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
   * Reads stat, meminfo and PSI.
   * @param now - Stamped on the sample as `at`; the CPU interval itself comes from the kernel.
   * @throws the fs error when stat or meminfo cannot be read, ProcParseError when malformed.
   */
  async sample(now: number): Promise<HostSample> {
    const statFile = `${this.#procRoot}/stat`;
    const meminfoFile = `${this.#procRoot}/meminfo`;
    const [statText, meminfoText, cpu, memory, io] = await Promise.all([
      readKernelFile(statFile),
      readKernelFile(meminfoFile),
      ...PSI_RESOURCES.map((resource) => this.#readPressure(resource)),
    ]);
    const stat = parseProcStat(statText, statFile);
    const memorySample = parseMeminfo(meminfoText, meminfoFile);
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
