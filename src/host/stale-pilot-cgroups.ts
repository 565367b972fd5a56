/**
 * Empty pilot cgroups left in Plancton's own parent by containers their engine no longer knows.
 * A Docker-in-Docker engine that sees the host's cgroup root (the chart's top-level placement)
 * puts its pilots in the host's `/plancton`; when its container is killed, its PID namespace ends
 * and the pilots with it, but their cgroup directories stay (the engine removes them only when it
 * restarts on the same data root). A new pod's engine, with a new data root, never knew them.
 *
 * A pilot paused (frozen) when its engine's container was killed does not end: the kernel's SIGKILL
 * waits, pending, until the freezer lets it run, and its namespace's init stays a zombie; the frozen
 * processes hold their memory on the node for good. Such a group is thawed, and only such a one:
 * every process in it frozen with SIGKILL pending, so that thawing does nothing but let die what
 * was killed, whoever froze it.
 */
import { readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exists, readKnob } from './kernel-file.ts';

/** SIGKILL's bit in /proc/<pid>/status's pending masks (signal 9). */
const SIGKILL_BIT = 1n << 8n;

/** A container's full id, as engines name their cgroups. */
const CONTAINER_ID = /^[0-9a-f]{64}$/;

/** Plancton's parent `name` in every hierarchy under `root`: the unified one (v2), or each v1 one, the freezer's first. */
async function parentDirs(root: string, name: string): Promise<{ v2: boolean; dirs: string[] }> {
  if (await exists(join(root, 'cgroup.controllers'))) return { v2: true, dirs: [join(root, name)] };
  const hierarchies = await readdir(root).catch(() => []);
  const out: string[] = [];
  for (const h of hierarchies) if (await exists(join(root, h, 'cgroup.procs'))) out.push(join(root, h, name));
  // the freezer's groups first, so that the killed pilots are gone when the other hierarchies' groups are tried
  out.sort((a, b) => Number(isFreezer(b, name)) - Number(isFreezer(a, name)));
  return { v2: false, dirs: out };
}

/** Whether `dir` is Plancton's parent in v1's freezer hierarchy. */
const isFreezer = (dir: string, name: string): boolean => dir.endsWith(`/freezer/${name}`);

/** The processes of the group in `dir` (none when it cannot be read). */
const procsOf = async (dir: string): Promise<string[]> =>
  ((await readKnob(join(dir, 'cgroup.procs'))) ?? '').split('\n').filter((l) => /^\d+$/.test(l));

/** What removeStalePilotGroups did: the directories removed, and the frozen groups of killed pilots thawed. */
export interface StaleSweep {
  readonly removed: string[];
  readonly thawed: string[];
}

/** Whether process `pid` has SIGKILL pending (thread or process-wide), by `procRoot`'s status file. */
async function killPending(procRoot: string, pid: string): Promise<boolean> {
  const status = await readKnob(join(procRoot, pid, 'status'));
  if (status === undefined) return true; // gone meanwhile: nothing left to keep frozen
  return ['SigPnd', 'ShdPnd'].some((field) => {
    const hex = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
    return hex !== undefined && (BigInt(`0x${hex}`) & SIGKILL_BIT) !== 0n;
  });
}

/** The freezer knob of the pilot group in `dir` when it is frozen: v2's `cgroup.freeze`, v1's `freezer.state` (`dir` in the freezer hierarchy). */
async function frozenKnob(dir: string, v2: boolean): Promise<{ file: string; thaw: string } | undefined> {
  const file = v2 ? join(dir, 'cgroup.freeze') : join(dir, 'freezer.state');
  const state = await readKnob(file);
  if (v2 ? state === '1' : state === 'FROZEN' || state === 'FREEZING') return { file, thaw: v2 ? '0' : 'THAWED' };
  return undefined;
}

/** Thaws the frozen group in `dir` when every process in it has SIGKILL pending; whether it did. */
async function thawKilled(dir: string, v2: boolean, procRoot: string): Promise<boolean> {
  const knob = await frozenKnob(dir, v2);
  if (!knob) return false;
  const pids = await procsOf(dir);
  if (pids.length === 0) return false;
  for (const pid of pids) if (!(await killPending(procRoot, pid))) return false;
  await writeFile(knob.file, knob.thaw);
  // the killed processes end as soon as they run; their group can go once they have
  for (let i = 0; i < 50 && (await procsOf(dir)).length > 0; i++)
    await new Promise((resolve) => setTimeout(resolve, 20));
  return true;
}

/**
 * Removes, in Plancton's parent `name` (one plain directory name) under the cgroup root `root`, the
 * directories named by a container id that `known` does not hold, having thawed first those that
 * hold nothing but frozen processes with SIGKILL pending (`procRoot`: the host's /proc). Only
 * empty groups can go: the kernel refuses to remove a group with a process or a child in it, so a
 * group still in use stays whatever the list says.
 */
export async function removeStalePilotGroups(
  root: string,
  name: string,
  known: ReadonlySet<string>,
  procRoot = '/proc',
): Promise<StaleSweep> {
  const removed: string[] = [];
  const thawed: string[] = [];
  const { v2, dirs } = await parentDirs(root, name);
  for (const dir of dirs) {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isDirectory() || !CONTAINER_ID.test(e.name) || known.has(e.name)) continue;
      const group = join(dir, e.name);
      if ((v2 || isFreezer(dir, name)) && (await thawKilled(group, v2, procRoot))) thawed.push(group);
      try {
        await rmdir(group);
        removed.push(group);
      } catch {
        // in use (EBUSY) or gone already: not ours to force
      }
    }
  }
  return { removed, thawed };
}
