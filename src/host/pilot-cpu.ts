import { readKernelFile } from './kernel-file.ts';
import { basename, dirname, join } from 'node:path';
import { readContainerCpuNs } from './cgroup-cpu.ts';
import { readContainerMemoryBytes } from './cgroup-memory.ts';
import { ensureEngineIdle, ensureParentIdle, makeGroupIdle, readGroupUsageNs } from './idle-cgroup.ts';
import { PilotCgroupLocator, type PilotCgroup } from './pilot-cgroups.ts';
import { anchorOf, readPilotPriority, type PilotPriority } from './pilot-priority.ts';

export interface PilotCpu {
  /** Percent of one CPU, per pilot id; absent on a pilot's first reading. */
  readonly perPilot: ReadonlyMap<string, number>;
  /** Memory in use now, bytes, per pilot id. */
  readonly memory: ReadonlyMap<string, number>;
  /** All pilots together, percent of the whole host; undefined on the first reading. */
  readonly totalPct: number | undefined;
  /** The priority read back from the pilots' own cgroups; undefined when none was found there. */
  readonly priority?: PilotPriority | undefined;
  /** Pilots whose cgroups could not be found (their CPU and memory are unknown). */
  readonly unlocated: number;
}

type Reading = { readonly ns: number; readonly at: number };

/** Where the pilots are to be found, and the idle-priority parent asked for. */
export interface PilotCpuOptions {
  /** The host's /proc: pilots are located from their processes' cgroups there. */
  readonly procRoot?: string | undefined;
  /** The `cgroup_parent` name: a pilot parent of that name found elsewhere (inside a dind engine's cgroup) is made idle too. */
  readonly parentName?: string | undefined;
  /** Reports a problem once (e.g. a parent that cannot be made idle). */
  readonly warn?: ((message: string) => void) | undefined;
  /** Says what was set (the knob on a dind engine's own cgroup). */
  readonly info?: ((message: string) => void) | undefined;
}

/** What a pass asks of the meter besides readings. */
export interface MeasureOptions {
  /** `dind_idle`: keep `cpu.idle=1` on a Docker-in-Docker engine's own cgroup. */
  readonly dindIdle?: boolean | undefined;
}

/**
 * Pilots' CPU and memory use from cgroup accounting, read once per iteration (no stats stream per
 * container), from where the kernel really put each pilot (its processes' /proc/<pid>/cgroup),
 * with the engine's usual layout as a fallback. With the idle-priority parent cgroup holding
 * every pilot, one counter covers all of them, including those that ended during the interval;
 * otherwise the per-pilot figures are summed.
 */
export class PilotCpuMeter {
  readonly #cgroupRoot: string;
  readonly #parent: string | undefined;
  readonly #groupFile: string | undefined;
  readonly #locator: PilotCgroupLocator | undefined;
  readonly #opts: PilotCpuOptions;
  readonly #madeIdle = new Set<string>();
  /** Engines' own cgroups whose knob Plancton set; the last error per knob (said once). */
  readonly #engines = new Set<string>();
  readonly #knobErrors = new Map<string, string>();
  #prev = new Map<string, Reading>();
  #prevGroup: Reading | undefined;

  constructor(
    cgroupRoot: string,
    idle?: { readonly parent: string; readonly usageFile: string },
    opts: PilotCpuOptions = {},
  ) {
    this.#cgroupRoot = cgroupRoot;
    this.#parent = idle?.parent;
    this.#groupFile = idle?.usageFile;
    this.#opts = opts;
    this.#locator = opts.procRoot ? new PilotCgroupLocator(opts.procRoot, cgroupRoot) : undefined;
  }

  /** Where these pilots' cgroups are (found before, or now from their processes), without forgetting the others. */
  async locate(ids: readonly string[]): Promise<ReadonlyMap<string, PilotCgroup>> {
    return this.#locator ? this.#locator.locate(ids, true) : new Map();
  }

  async measure(ids: readonly string[], now: number, ncpus: number, opts: MeasureOptions = {}): Promise<PilotCpu> {
    const located = this.#locator ? await this.#locator.locate(ids) : new Map<string, PilotCgroup>();
    await this.#idleWhereTheyLive(located);
    const engines = this.#engineGroups(located);
    // an engine's cgroup first seen is set before the reading, so that the reading shows it
    if (opts.dindIdle) await this.#keepEnginesIdle(engines, true);
    const next = new Map<string, Reading>();
    const perPilot = new Map<string, number>();
    const memory = new Map<string, number>();
    let unlocated = 0;
    await Promise.all(
      ids.map(async (id) => {
        const at = located.get(id);
        const bytes = at
          ? at.memoryFile
            ? await readNumber(at.memoryFile)
            : undefined
          : await readContainerMemoryBytes(this.#cgroupRoot, id, this.#parent).catch(() => undefined);
        if (bytes !== undefined) memory.set(id, bytes);
        const ns = at
          ? await readGroupUsageNs(at.cpuUsageFile)
          : await readContainerCpuNs(this.#cgroupRoot, id, this.#parent).catch(() => undefined);
        if (ns === undefined) {
          unlocated++;
          return;
        }
        next.set(id, { ns, at: now });
        const pct = rate(this.#prev.get(id), { ns, at: now });
        if (pct !== undefined) perPilot.set(id, pct);
      }),
    );
    this.#prev = next;
    let totalPct: number | undefined;
    // the parent's counter counts the pilots only where they really are under it
    const groupDir = this.#groupFile ? dirname(this.#groupFile) : undefined;
    const allInGroup = [...located.values()].every((c) => dirname(dirname(c.cpuUsageFile)) === groupDir);
    if (this.#groupFile && allInGroup) {
      const ns = await readGroupUsageNs(this.#groupFile);
      const cur = ns === undefined ? undefined : { ns, at: now };
      const pct = cur ? rate(this.#prevGroup, cur) : undefined;
      totalPct = pct === undefined ? undefined : pct / Math.max(1, ncpus);
      this.#prevGroup = cur;
    }
    if (totalPct === undefined && ids.length === perPilot.size) {
      totalPct = [...perPilot.values()].reduce((a, b) => a + b, 0) / Math.max(1, ncpus);
    }
    const priority = await readPilotPriority(located, this.#opts.parentName);
    // one found reset is set again after the reading: this pass falls back, the next reads it back
    if (opts.dindIdle) await this.#keepEnginesIdle(engines, false);
    await this.#keepParentIdle(located);
    return { perPilot, memory, totalPct, priority, unlocated };
  }

  /**
   * The engine applies `--cgroup-parent` under its own cgroup: a Docker engine in a container
   * puts `/plancton` inside that container's group, not where Plancton made the idle parent.
   * Such a parent, named as asked, is set to idle priority where it really is (once): there the
   * pilots yield to the engine's own processes (dockerd, containerd, shims) beside them.
   */
  async #idleWhereTheyLive(located: ReadonlyMap<string, PilotCgroup>): Promise<void> {
    const name = this.#opts.parentName;
    if (!name) return;
    for (const c of located.values()) {
      const parent = dirname(c.cpuDir);
      if (basename(parent) !== name || dirname(parent) === c.cpuRoot || this.#madeIdle.has(parent)) continue;
      this.#madeIdle.add(parent);
      try {
        const set = await makeGroupIdle(parent);
        this.#opts.info?.(
          `the engine put the pilots' parent at ${parent}, inside its own cgroup; set it to idle priority there too (${set})`,
        );
      } catch (err) {
        this.#opts.warn?.(`cannot set ${parent} to idle priority: ${(err as Error).message}`);
      }
    }
  }

  /**
   * Keeps the idle-priority parent Plancton set up at start idle where the pilots really are in it
   * (a child of the host's root: a host socket, or a dind engine that sees the host's root): found
   * reset, it is said once and set again after the reading, as an engine's knob is.
   */
  async #keepParentIdle(located: ReadonlyMap<string, PilotCgroup>): Promise<void> {
    const parent = this.#parent;
    if (parent === undefined) return;
    const dirs = new Set<string>();
    for (const c of located.values()) {
      const a = anchorOf(c, this.#opts.parentName);
      if (a.role === 'parent' && a.dir === join(c.cpuRoot, parent)) dirs.add(a.dir);
    }
    for (const dir of dirs) {
      try {
        const r = await ensureParentIdle(dir);
        this.#knobErrors.delete(dir);
        if (r.written)
          this.#opts.warn?.(
            `found ${r.found} on ${dir}, the pilots' idle-priority parent (reset since Plancton set it up); the kill-based CPU rule for this pass; set it to idle priority again`,
          );
      } catch (err) {
        this.#knobFailed(
          dir,
          err,
          (msg) => `cannot set ${dir}, the pilots' idle-priority parent, to idle priority again: ${msg}`,
        );
      }
    }
  }

  /** A knob on `dir` that could not be set: said once per error, not at every pass. */
  #knobFailed(dir: string, err: unknown, say: (msg: string) => string): void {
    const msg = (err as Error).message;
    if (this.#knobErrors.get(dir) !== msg) this.#opts.warn?.(say(msg));
    this.#knobErrors.set(dir, msg);
  }

  /** The Docker-in-Docker engines' own cgroups the located pilots are under (absolute directories). */
  #engineGroups(located: ReadonlyMap<string, PilotCgroup>): Set<string> {
    const out = new Set<string>();
    for (const c of located.values()) {
      const a = anchorOf(c, this.#opts.parentName);
      if (a.role === 'engine') out.add(a.dir);
    }
    return out;
  }

  /**
   * Keeps `cpu.idle=1` on each engine's own cgroup: `first`, those not seen before (set, said);
   * otherwise those seen before (found reset: said, set again).
   */
  async #keepEnginesIdle(engines: ReadonlySet<string>, first: boolean): Promise<void> {
    for (const dir of engines) {
      if (this.#engines.has(dir) === first) continue;
      try {
        const r = await ensureEngineIdle(dir);
        this.#knobErrors.delete(dir);
        if (first) {
          const moved = [...this.#engines].filter((d) => !engines.has(d));
          this.#opts.info?.(
            `set cpu.idle=1 on ${dir}, the dind engine's own cgroup (was ${r.found})${moved.length ? `; the engine's pilots were under ${moved.join(', ')} before` : ''}`,
          );
          for (const d of moved) this.#engines.delete(d);
          this.#engines.add(dir);
        } else if (r.written)
          this.#opts.warn?.(
            `found cpu.idle=${r.found} on ${dir}, the dind engine's own cgroup (reset since Plancton set it); the kill-based CPU rule for this pass; set it to 1 again`,
          );
      } catch (err) {
        this.#knobFailed(dir, err, (msg) => `cannot set cpu.idle=1 on ${dir}, the dind engine's own cgroup: ${msg}`);
      }
    }
  }
}

async function readNumber(file: string): Promise<number | undefined> {
  const text = await readKernelFile(file).catch(() => undefined);
  const n = Number(text?.trim());
  return text !== undefined && Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** Percent of one CPU between two readings. */
function rate(prev: Reading | undefined, cur: Reading): number | undefined {
  if (!prev || cur.at <= prev.at || cur.ns < prev.ns) return undefined;
  return ((cur.ns - prev.ns) / 1e6 / (cur.at - prev.at)) * 100;
}
