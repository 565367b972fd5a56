import { readContainerCpuNs } from './cgroup-cpu.ts';

/**
 * Per-pilot CPU use in percent of one CPU, from cgroup accounting read once per iteration
 * (no stats stream per container). The first reading of a pilot gives no figure.
 */
export class PilotCpuMeter {
  readonly #cgroupRoot: string;
  #prev = new Map<string, { ns: number; at: number }>();

  constructor(cgroupRoot: string) {
    this.#cgroupRoot = cgroupRoot;
  }

  async measure(ids: readonly string[], now: number): Promise<Map<string, number>> {
    const next = new Map<string, { ns: number; at: number }>();
    const out = new Map<string, number>();
    await Promise.all(
      ids.map(async (id) => {
        const ns = await readContainerCpuNs(this.#cgroupRoot, id).catch(() => undefined);
        if (ns === undefined) return;
        next.set(id, { ns, at: now });
        const p = this.#prev.get(id);
        if (p && now > p.at && ns >= p.ns) out.set(id, ((ns - p.ns) / 1e6 / (now - p.at)) * 100);
      }),
    );
    this.#prev = next;
    return out;
  }
}
