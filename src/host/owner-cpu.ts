/**
 * The owner's CPU over the last fraction of a second, for the CPU watch between passes: the host's
 * busy share from `/proc/stat` less what the pilots' group and this process used over the same
 * interval. Two small reads and the process's own counter; keeps its own baselines, apart from
 * the pass's, so that the pass's readings keep their intervals.
 */
import { readKernelFile } from './kernel-file.ts';
import { readGroupUsageNs } from './idle-cgroup.ts';
import { busyShare, parseCpuTotal, USER_HZ, type CpuTimes } from './proc-stat.ts';

interface Baseline {
  readonly stat: CpuTimes;
  readonly pilotsNs: number;
  readonly self: NodeJS.CpuUsage;
}

export class OwnerCpuMeter {
  readonly #statFile: string;
  readonly #groupFile: string;
  readonly #selfCpu: () => NodeJS.CpuUsage;
  #last: Baseline | undefined;

  /**
   * @param procRoot - the host's procfs.
   * @param groupFile - the usage counter of the group holding every pilot (the idle parent's).
   */
  constructor(procRoot: string, groupFile: string, selfCpu: () => NodeJS.CpuUsage = () => process.cpuUsage()) {
    this.#statFile = `${procRoot}/stat`;
    this.#groupFile = groupFile;
    this.#selfCpu = selfCpu;
  }

  /** The owner's CPU since the last call, in percent of the host; undefined on the first call or when a file cannot be read. */
  async read(): Promise<number | undefined> {
    const [text, pilotsNs] = await Promise.all([
      readKernelFile(this.#statFile).catch(() => undefined),
      readGroupUsageNs(this.#groupFile),
    ]);
    const self = this.#selfCpu();
    if (text === undefined) return undefined;
    const stat = parseCpuTotal(text, this.#statFile);
    const cur = { stat, pilotsNs: pilotsNs ?? 0, self };
    const prev = this.#last;
    this.#last = cur;
    if (prev === undefined || pilotsNs === undefined) return undefined;
    // the aggregate line's jiffies count every CPU: the host's CPU time over the interval
    const usage = busyShare(prev.stat, stat);
    const hostNs = (usage.jiffies / USER_HZ) * 1e9;
    if (hostNs <= 0) return undefined;
    const selfNs = (self.user - prev.self.user + self.system - prev.self.system) * 1000;
    const pilotsPct = (100 * Math.max(0, cur.pilotsNs - prev.pilotsNs)) / hostNs;
    return Math.max(0, usage.pct - pilotsPct - (100 * selfNs) / hostNs);
  }
}
