import { readContainerCpuNs } from './cgroup-cpu.ts';
import { readContainerMemoryBytes } from './cgroup-memory.ts';
import { readGroupUsageNs } from './idle-cgroup.ts';

export interface PilotCpu {
  /** Percent of one CPU, per pilot id; absent on a pilot's first reading. */
  readonly perPilot: ReadonlyMap<string, number>;
  /** Memory in use now, bytes, per pilot id. */
  readonly memory: ReadonlyMap<string, number>;
  /** All pilots together, percent of the whole host; undefined on the first reading. */
  readonly totalPct: number | undefined;
}

type Reading = { readonly ns: number; readonly at: number };

/**
 * Pilots' CPU and memory use from cgroup accounting, read once per iteration (no stats stream per
 * container). With the idle-priority parent cgroup, one counter covers all pilots, including
 * those that ended during the interval; without it, the per-pilot figures are summed.
 */
export class PilotCpuMeter {
  readonly #cgroupRoot: string;
  readonly #parent: string | undefined;
  readonly #groupFile: string | undefined;
  #prev = new Map<string, Reading>();
  #prevGroup: Reading | undefined;

  constructor(cgroupRoot: string, idle?: { readonly parent: string; readonly usageFile: string }) {
    this.#cgroupRoot = cgroupRoot;
    this.#parent = idle?.parent;
    this.#groupFile = idle?.usageFile;
  }

  async measure(ids: readonly string[], now: number, ncpus: number): Promise<PilotCpu> {
    const next = new Map<string, Reading>();
    const perPilot = new Map<string, number>();
    const memory = new Map<string, number>();
    await Promise.all(
      ids.map(async (id) => {
        const bytes = await readContainerMemoryBytes(this.#cgroupRoot, id, this.#parent).catch(() => undefined);
        if (bytes !== undefined) memory.set(id, bytes);
        const ns = await readContainerCpuNs(this.#cgroupRoot, id, this.#parent).catch(() => undefined);
        if (ns === undefined) return;
        next.set(id, { ns, at: now });
        const pct = rate(this.#prev.get(id), { ns, at: now });
        if (pct !== undefined) perPilot.set(id, pct);
      }),
    );
    this.#prev = next;
    let totalPct: number | undefined;
    if (this.#groupFile) {
      const ns = await readGroupUsageNs(this.#groupFile);
      const cur = ns === undefined ? undefined : { ns, at: now };
      const pct = cur ? rate(this.#prevGroup, cur) : undefined;
      totalPct = pct === undefined ? undefined : pct / Math.max(1, ncpus);
      this.#prevGroup = cur;
    }
    if (totalPct === undefined && ids.length === perPilot.size) {
      totalPct = [...perPilot.values()].reduce((a, b) => a + b, 0) / Math.max(1, ncpus);
    }
    return { perPilot, memory, totalPct };
  }
}

/** Percent of one CPU between two readings. */
function rate(prev: Reading | undefined, cur: Reading): number | undefined {
  if (!prev || cur.at <= prev.at || cur.ns < prev.ns) return undefined;
  return ((cur.ns - prev.ns) / 1e6 / (cur.at - prev.at)) * 100;
}
