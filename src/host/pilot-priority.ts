/**
 * The CPU priority the kernel really gives the pilots, read back from their own cgroups.
 *
 * The kernel weighs a group only against its siblings: a pilot yields to a process when, at the
 * level where their ancestors part, the pilot's side is idle (`cpu.idle=1`) or at the lowest
 * weight (`cpu.shares=2`, `cpu.weight=1`). So what counts is the pilots' *anchor*: the highest
 * group that holds nothing but them and their engine. With the engine on the host (a host socket)
 * that is the pilots' parent (`/plancton`, a child of the root). With a Docker engine in a
 * container (the chart's dind mode), the engine applies `--cgroup-parent` under its own cgroup
 * (`/docker/<dind>/plancton`, `/kubepods/<qos>/<pod>/<container>/plancton`): the anchor is then
 * that container's own cgroup (the engine's), and the groups above it (`/docker`,
 * `/kubepods/…/<pod>`) hold other containers too, so they keep their weights: the knob there
 * yields to the container's siblings only (docs/kubernetes.md). The pilots are reported idle when
 * their anchor, or a group above it, is idle or at the lowest weight; the knob reported is the
 * nearest such group from the anchor up.
 */
import { readKnob } from './kernel-file.ts';
import { dirname, relative } from 'node:path';
import type { PilotCgroup } from './pilot-cgroups.ts';

/** The group that holds the pilots' idle knob, and the groups above it. */
export interface IdleKnob {
  /** Its path in the CPU hierarchy, e.g. `/plancton` or `/docker/<dind id>`. */
  readonly cgroup: string;
  /** What makes it idle, as read back: `cpu.idle=1`, `cpu.shares=2` or `cpu.weight=1`. */
  readonly setting: string;
  /**
   * `parent`: the pilots' parent on the host; `engine`: a Docker-in-Docker engine's own cgroup;
   * `above`: a group above either, idle or at the lowest weight by someone else's doing (a
   * kubelet's best-effort QoS group at `cpu.shares=2`), the anchor itself being at normal weight.
   */
  readonly role: 'parent' | 'engine' | 'above';
  /** The groups above it, nearest first, up to the root's child, with their weights as read back. */
  readonly parents: ReadonlyArray<{ readonly cgroup: string; readonly weight: string }>;
}

/** What `status` shows as the pilots' priority. */
export interface PilotPriority {
  /** Every pilot found runs under an idle (or lowest-weight) group at or above its anchor. */
  readonly enabled: boolean;
  readonly detail: string;
  /** Where the idle knob is (when every pilot is under the same one). */
  readonly knob?: IdleKnob | undefined;
}

/** Whether the group in `dir` runs at the lowest priority, and what says so. */
async function idleOf(dir: string): Promise<string | undefined> {
  if ((await readKnob(`${dir}/cpu.idle`)) === '1') return 'cpu.idle=1';
  const shares = await readKnob(`${dir}/cpu.shares`);
  if (shares !== undefined && Number(shares) <= 2) return `cpu.shares=${shares}`;
  const weight = await readKnob(`${dir}/cpu.weight`);
  if (weight !== undefined && Number(weight) <= 1) return `cpu.weight=${weight}`;
  return undefined;
}

/** The weight of the group in `dir` against its siblings, for the report. */
async function weightOf(dir: string): Promise<string> {
  const idle = await readKnob(`${dir}/cpu.idle`);
  const shares = await readKnob(`${dir}/cpu.shares`);
  const w =
    shares !== undefined ? `cpu.shares=${shares}` : `cpu.weight=${(await readKnob(`${dir}/cpu.weight`)) ?? '?'}`;
  return idle === undefined ? w : `${w}, cpu.idle=${idle}`;
}

/**
 * The anchor of a pilot in `c` (absolute directory): its engine's own cgroup when its parent, named
 * `parentName` (`cgroup_parent`), is nested below the hierarchy's root, else the root's child on
 * its path.
 */
export function anchorOf(c: PilotCgroup, parentName: string | undefined): { dir: string; role: 'parent' | 'engine' } {
  const root = c.cpuRoot;
  const parent = dirname(c.cpuDir);
  if (parentName && parent.endsWith(`/${parentName}`)) {
    const base = parent.slice(0, -parentName.length - 1);
    if (base.length > root.length && base.startsWith(`${root}/`)) return { dir: base, role: 'engine' };
  }
  const first = relative(root, c.cpuDir).split('/')[0] ?? '';
  return { dir: `${root}/${first}`, role: 'parent' };
}

/** `dir` as a path in its hierarchy (`/docker/<id>`). */
const inTree = (root: string, dir: string): string => `/${relative(root, dir)}`;

/** The groups above `dir`, nearest first, up to the root's child. */
async function parentsOf(root: string, dir: string): Promise<IdleKnob['parents']> {
  const out: Array<{ cgroup: string; weight: string }> = [];
  for (let d = dirname(dir); d.length > root.length && d.startsWith(root); d = dirname(d))
    out.push({ cgroup: inTree(root, d), weight: await weightOf(d) });
  return out;
}

/**
 * Reads the pilots' priority from their own cgroups; undefined when no pilot was found.
 * `parentName`: the `cgroup_parent` asked for, by which a Docker-in-Docker engine's own cgroup is
 * recognised above it.
 */
export async function readPilotPriority(
  pilots: ReadonlyMap<string, PilotCgroup>,
  parentName?: string,
): Promise<PilotPriority | undefined> {
  if (pilots.size === 0) return undefined;
  const knobs = new Map<string, { knob: IdleKnob; count: number }>();
  /** What is not idle, and for how many pilots. */
  const problems = new Map<string, number>();
  for (const c of pilots.values()) {
    const root = c.cpuRoot;
    const anchor = anchorOf(c, parentName);
    // the knob: the anchor itself, or else the nearest idle group above it
    let knobAt: { dir: string; why: string } | undefined;
    for (let dir = anchor.dir; dir.length > root.length && dir.startsWith(root) && !knobAt; dir = dirname(dir)) {
      const why = await idleOf(dir);
      if (why) knobAt = { dir, why };
    }
    if (!knobAt) {
      // an idle group below the anchor (the engine's /plancton) orders the pilots inside it only
      let inside: { dir: string; why: string } | undefined;
      for (let dir = c.cpuDir; dir.length > anchor.dir.length && !inside; dir = dirname(dir)) {
        const why = await idleOf(dir);
        if (why) inside = { dir, why };
      }
      const what = anchor.role === 'engine' ? "the dind engine's own cgroup" : "the pilots' top-level group";
      const at = `${inTree(root, anchor.dir)} (${what}: ${await weightOf(anchor.dir)})`;
      const problem = inside
        ? `${at} is not idle; idle only inside it (${inside.why} on ${inTree(root, inside.dir)})`
        : `no idle-priority group above the pilots; ${at}`;
      problems.set(problem, (problems.get(problem) ?? 0) + 1);
      continue;
    }
    const known = knobs.get(knobAt.dir);
    if (known) known.count++;
    else
      knobs.set(knobAt.dir, {
        knob: {
          cgroup: inTree(root, knobAt.dir),
          setting: knobAt.why,
          role: knobAt.dir === anchor.dir ? anchor.role : 'above',
          parents: await parentsOf(root, knobAt.dir),
        },
        count: 1,
      });
  }
  const parts = [...knobs.values()].map(({ knob, count }) => `${count} pilot(s): ${knobText(knob)}`);
  const enabled = problems.size === 0;
  const detail = [...[...problems].map(([p, count]) => `NOT idle: ${count} pilot(s): ${p}`), ...parts].join('; ');
  const only = enabled && knobs.size === 1 ? [...knobs.values()][0]?.knob : undefined;
  return { enabled, detail: `read from the pilots' cgroups: ${detail}`, knob: only };
}

/** The knob, what it yields to, and what its parents weigh, in a few words. */
export function knobText(k: IdleKnob): string {
  const role =
    k.role === 'engine'
      ? " (the dind engine's own cgroup)"
      : k.role === 'above'
        ? " (above the pilots' own groups, not set by Plancton)"
        : '';
  const up = k.parents.length
    ? `; its parents keep their weights: ${k.parents.map((p) => `${p.cgroup} (${p.weight})`).join(', ')}`
    : ' (a child of the root)';
  return `${k.setting} on ${k.cgroup}${role}${up}`;
}
