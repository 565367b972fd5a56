/**
 * The CPU priority the kernel really gives the pilots, read back from their own cgroups.
 *
 * The kernel weighs a group only against its siblings: a pilot yields to a process when, at the
 * level where their ancestors part, the pilot's side is idle (`cpu.idle=1`) or at the lowest
 * weight (`cpu.shares=2`, `cpu.weight=1`). The pilots' *anchor* is the highest group that holds
 * nothing but them and their engine: their parent (`/plancton`, a child of the root) with an engine
 * that sees the host's cgroup root (a host socket, or the chart's dind sidecar in its top-level
 * placement); the engine's own container cgroup when the engine applies `--cgroup-parent` under
 * it (`/docker/<dind>/plancton`, `/kubepods/<qos>/<pod>/<container>/plancton`). Another process
 * of the host may part from the pilots at any group from the anchor up to the root's child, so
 * the pilots count as idle only when every one of those groups is idle or at the lowest weight.
 * A knob on a dind engine's container with `/docker` or `/kubepods…` at normal weight above it
 * yields to that container's siblings only, and is reported as NOT idle at the host's top level
 * (docs/kubernetes.md).
 */
import { idleSetting, readCpuKnobs } from './idle-cgroup.ts';
import { dirname, relative } from 'node:path';
import type { PilotCgroup } from './pilot-cgroups.ts';

/** The group that holds the pilots' idle knob, and the groups above it. */
export interface IdleKnob {
  /** Its path in the CPU hierarchy, e.g. `/plancton` or `/docker/<dind id>`. */
  readonly cgroup: string;
  /** What makes it idle, as read back: `cpu.idle=1`, `cpu.shares=2` or `cpu.weight=1`. */
  readonly setting: string;
  /** `parent`: the pilots' parent, a child of the root; `engine`: a Docker-in-Docker engine's own cgroup. */
  readonly role: 'parent' | 'engine';
  /** The groups above it, nearest first, up to the root's child, with their weights as read back (all idle). */
  readonly parents: ReadonlyArray<{ readonly cgroup: string; readonly weight: string }>;
}

/** What `status` shows as the pilots' priority. */
export interface PilotPriority {
  /** For every pilot found, each group from its anchor up to the root's child is idle (or at the lowest weight). */
  readonly enabled: boolean;
  readonly detail: string;
  /** Where the idle knob is (when every pilot is under the same one). */
  readonly knob?: IdleKnob | undefined;
}

/** Whether the group in `dir` runs at the lowest priority, and what says so. */
const idleOf = async (dir: string): Promise<string | undefined> => idleSetting(await readCpuKnobs(dir));

/** The weight of the group in `dir` against its siblings, for the report. */
async function weightOf(dir: string): Promise<string> {
  const { idle, shares, weight } = await readCpuKnobs(dir);
  const w = shares !== undefined ? `cpu.shares=${shares}` : `cpu.weight=${weight ?? '?'}`;
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

/** Whose siblings the pilots yield to: `/docker/<id>'s siblings`, or `the siblings of /a, /b`. */
const among = (groups: readonly string[]): string =>
  groups.length === 1 ? `${groups[0] ?? ''}'s siblings` : `the siblings of ${groups.join(', ')}`;

/** `dir` as a path in its hierarchy (`/docker/<id>`). */
const inTree = (root: string, dir: string): string => `/${relative(root, dir)}`;

/** The groups above `dir`, nearest first, up to the root's child. */
async function parentsOf(root: string, dir: string): Promise<IdleKnob['parents']> {
  const out: Array<{ cgroup: string; weight: string }> = [];
  for (let d = dirname(dir); d.length > root.length && d.startsWith(root); d = dirname(d))
    out.push({ cgroup: inTree(root, d), weight: await weightOf(d) });
  return out;
}

/** One group on a pilot's path from its anchor up to the root's child, as read back. */
interface Rung {
  readonly dir: string;
  /** What makes it idle (`cpu.idle=1`, the lowest weight); undefined: normal weight. */
  readonly why: string | undefined;
}

/** The groups from `anchor` up to the root's child of `root`, nearest first, each with what makes it idle. */
async function ladderOf(root: string, anchor: string): Promise<Rung[]> {
  const out: Rung[] = [];
  for (let dir = anchor; dir.length > root.length && dir.startsWith(`${root}/`); dir = dirname(dir))
    out.push({ dir, why: await idleOf(dir) });
  return out;
}

/** One pilot's priority: the knob it is idle by, or what is not idle (a heading and the detail). */
type Reading =
  | { readonly kind: 'idle'; readonly anchor: string; knob(): Promise<IdleKnob> }
  | { readonly kind: 'not-idle'; readonly head: string; readonly text: string };

/** The priority of the pilot in `c`: idle only when every group from its anchor up to the root's child is. */
async function readOne(c: PilotCgroup, parentName: string | undefined): Promise<Reading> {
  const root = c.cpuRoot;
  const anchor = anchorOf(c, parentName);
  const ladder = await ladderOf(root, anchor.dir);
  const idle = ladder.filter((r) => r.why !== undefined);
  const normal = ladder.filter((r) => r.why === undefined);
  if (normal.length === 0) {
    const knob = async (): Promise<IdleKnob> => ({
      cgroup: inTree(root, anchor.dir),
      setting: ladder[0]?.why ?? '',
      role: anchor.role,
      parents: await parentsOf(root, anchor.dir),
    });
    return { kind: 'idle', anchor: anchor.dir, knob };
  }
  if (idle.length > 0) {
    const at = idle.map((r) => `${r.why} on ${inTree(root, r.dir)}`).join(', ');
    const weights = await Promise.all(normal.map(async (r) => `${inTree(root, r.dir)} (${await weightOf(r.dir)})`));
    const siblings = among(idle.map((r) => inTree(root, r.dir)));
    const text = `idle among ${siblings} only (${at}; at normal weight: ${weights.join(', ')})`;
    return { kind: 'not-idle', head: "NOT idle at the host's top level", text };
  }
  // an idle group below the anchor (the engine's /plancton) orders the pilots inside it only
  let inside: { dir: string; why: string } | undefined;
  for (let dir = c.cpuDir; dir.length > anchor.dir.length && !inside; dir = dirname(dir)) {
    const why = await idleOf(dir);
    if (why) inside = { dir, why };
  }
  const what = anchor.role === 'engine' ? "the dind engine's own cgroup" : "the pilots' top-level group";
  const at = `${inTree(root, anchor.dir)} (${what}: ${await weightOf(anchor.dir)})`;
  const text = inside
    ? `${at} is not idle; idle only inside it (${inside.why} on ${inTree(root, inside.dir)})`
    : `no idle-priority group above the pilots; ${at}`;
  return { kind: 'not-idle', head: 'NOT idle', text };
}

/**
 * Reads the pilots' priority from their own cgroups; undefined when no pilot was found.
 * `parentName`: the `cgroup_parent` asked for, by which a Docker-in-Docker engine's own cgroup is
 * recognised above it.
 *
 * The pilots count as idle only when every group from their anchor up to the root's child on their
 * path is idle or at the lowest weight: wherever another process of the host parts from them in the
 * tree, the pilots' side is idle. An idle group with a group at normal weight above it makes the
 * pilots yield to its siblings only, and is reported so.
 */
export async function readPilotPriority(
  pilots: ReadonlyMap<string, PilotCgroup>,
  parentName?: string,
): Promise<PilotPriority | undefined> {
  if (pilots.size === 0) return undefined;
  const knobs = new Map<string, { knob: IdleKnob; count: number }>();
  /** What is not idle, and for how many pilots. */
  const problems = new Map<string, { head: string; text: string; count: number }>();
  for (const c of pilots.values()) {
    const r = await readOne(c, parentName);
    const key = r.kind === 'idle' ? r.anchor : `${r.head}\n${r.text}`;
    const known = r.kind === 'idle' ? knobs.get(key) : problems.get(key);
    if (known) known.count++;
    else if (r.kind === 'idle') knobs.set(key, { knob: await r.knob(), count: 1 });
    else problems.set(key, { head: r.head, text: r.text, count: 1 });
  }
  const parts = [...knobs.values()].map(({ knob, count }) => `${count} pilot(s): ${knobText(knob)}`);
  const enabled = problems.size === 0;
  const notIdle = [...problems.values()].map((p) => `${p.head}: ${p.count} pilot(s): ${p.text}`);
  const only = enabled && knobs.size === 1 ? [...knobs.values()][0]?.knob : undefined;
  return { enabled, detail: `read from the pilots' cgroups: ${[...notIdle, ...parts].join('; ')}`, knob: only };
}

/** The knob, and what its parents weigh, in a few words. */
export function knobText(k: IdleKnob): string {
  const role = k.role === 'engine' ? " (the dind engine's own cgroup)" : '';
  const up = k.parents.length
    ? `; idle up to the root: ${k.parents.map((p) => `${p.cgroup} (${p.weight})`).join(', ')}`
    : ' (a child of the root)';
  return `${k.setting} on ${k.cgroup}${role}${up}`;
}
