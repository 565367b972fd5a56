/**
 * The one host observer: everything the daemon reads of the host, for the pass (a host sample,
 * this process's own CPU, the pilots' cgroup figures) and for the memory watch between passes.
 * Host paths are injected; each file has its pure parser (proc-stat.ts, meminfo.ts, pressure.ts,
 * cgroup-*.ts), and this class only reads and keeps the baselines the rates need.
 */
import { readKernelFile } from './kernel-file.ts';
import type { HostSample, MemorySample, Pressure } from '../core/decision.ts';
import { PilotCpuMeter, type MeasureOptions, type PilotCpu, type PilotCpuOptions } from './pilot-cpu.ts';
import type { PilotCgroup } from './pilot-cgroups.ts';
import { OwnerCpuMeter } from './owner-cpu.ts';
import { parsePressure } from './pressure.ts';
import { HostSampler, readMemory } from './sampler.ts';

export type { PilotCpu } from './pilot-cpu.ts';

export interface HostObserverOptions {
  /** Where the host's procfs is mounted: `/proc`, or `/host/proc` inside a container. */
  readonly procRoot?: string | undefined;
  /** Where the host's cgroup hierarchy is mounted; without it, no pilot figures. */
  readonly cgroupRoot?: string | undefined;
  /** This process's CPU time so far (process.cpuUsage); tests give their own. */
  readonly selfCpu?: (() => NodeJS.CpuUsage) | undefined;
  /** Told about a pressure file that exists but could not be read. */
  readonly onPressureError?: ((error: unknown) => void) | undefined;
  /** Reads host samples; by default a HostSampler on `procRoot` (tests give a scripted one). */
  readonly sampler?: { sample(now: number): Promise<HostSample> } | undefined;
  /** How the pilots' cgroups are located (from their processes under `procRoot`) and who hears of a problem. */
  readonly pilots?: Omit<PilotCpuOptions, 'procRoot'> | undefined;
}

/** One reading of the host for a pass. */
export interface HostReading {
  readonly host: HostSample;
  /** CPU this process used since the last reading, percent of the host over its interval; undefined without an interval. */
  readonly selfBusyPct: number | undefined;
}

/** What the memory watch needs: MemAvailable and PSI memory. */
export interface MemoryReading {
  readonly memory: MemorySample;
  readonly psi: Pressure | undefined;
}

export class HostObserver {
  readonly #procRoot: string;
  readonly #cgroupRoot: string | undefined;
  readonly #sampler: { sample(now: number): Promise<HostSample> };
  readonly #selfCpu: () => NodeJS.CpuUsage;
  readonly #pilotOptions: PilotCpuOptions;
  #pilots: PilotCpuMeter | undefined;
  #owner: OwnerCpuMeter | undefined;
  #lastSelf: NodeJS.CpuUsage | undefined;

  constructor(options: HostObserverOptions = {}) {
    this.#procRoot = options.procRoot ?? '/proc';
    this.#cgroupRoot = options.cgroupRoot;
    this.#sampler =
      options.sampler ??
      new HostSampler({ procRoot: this.#procRoot, onPressureError: options.onPressureError ?? (() => undefined) });
    this.#selfCpu = options.selfCpu ?? (() => process.cpuUsage());
    this.#pilotOptions = { ...options.pilots, procRoot: this.#procRoot };
    if (this.#cgroupRoot !== undefined)
      this.#pilots = new PilotCpuMeter(this.#cgroupRoot, undefined, this.#pilotOptions);
  }

  /**
   * Where the pilots' cgroups are: under the idle-priority parent once it is set up (one counter
   * then covers all pilots). Called once, before the first pass.
   */
  usePilotParent(idle: { readonly parent: string; readonly usageFile: string } | undefined): void {
    if (this.#cgroupRoot !== undefined) this.#pilots = new PilotCpuMeter(this.#cgroupRoot, idle, this.#pilotOptions);
    // the owner between passes needs one counter that covers every pilot: the idle parent's
    this.#owner = idle ? new OwnerCpuMeter(this.#procRoot, idle.usageFile, this.#selfCpu) : undefined;
  }

  /** The owner's CPU since the last call (the CPU watch's own interval); undefined without the idle parent's counter. */
  async ownerCpu(): Promise<number | undefined> {
    return this.#owner?.read();
  }

  /** Takes the first reading, the baseline of the first CPU interval; a failure is left to the first pass to report. */
  async prime(now: number): Promise<{ at: number }> {
    await this.#sampler.sample(now).catch(() => undefined);
    this.#lastSelf = this.#selfCpu();
    return { at: now };
  }

  /** Stat, meminfo and PSI, and this process's CPU since the last reading. Throws when /proc cannot be read. */
  async host(now: number): Promise<HostReading> {
    const host = await this.#sampler.sample(now);
    return { host, selfBusyPct: this.#selfBusy(host) };
  }

  /** The pilots' CPU and memory from their cgroups; undefined without a cgroup root. */
  async pilots(
    ids: readonly string[],
    now: number,
    ncpus: number,
    opts?: MeasureOptions,
  ): Promise<PilotCpu | undefined> {
    return this.#pilots?.measure(ids, now, ncpus, opts);
  }

  /** Where these pilots' cgroups are (for the pause boost); empty without a cgroup root. */
  async locatePilots(ids: readonly string[]): Promise<ReadonlyMap<string, PilotCgroup>> {
    return this.#pilots ? this.#pilots.locate(ids) : new Map();
  }

  /** MemAvailable and PSI memory, two small reads (for the memory watch, a few times a second). */
  async memory(): Promise<MemoryReading> {
    const [memory, psi] = await Promise.all([
      readMemory(this.#procRoot),
      readKernelFile(`${this.#procRoot}/pressure/memory`).then(
        (t) => parsePressure(t),
        () => undefined,
      ),
    ]);
    return { memory, psi };
  }

  /** This process's CPU since the last sample, in percent of the host over that sample's interval. */
  #selfBusy(host: HostSample): number | undefined {
    const usage = this.#selfCpu();
    const last = this.#lastSelf;
    this.#lastSelf = usage;
    const intervalSec = host.cpu?.intervalSec ?? 0;
    if (last === undefined || intervalSec <= 0) return undefined;
    const usedSec = (usage.user - last.user + usage.system - last.system) / 1e6;
    return Math.min(100, (100 * usedSec) / (intervalSec * Math.max(1, host.ncpus)));
  }
}
