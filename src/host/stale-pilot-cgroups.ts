/**
 * Empty pilot cgroups left in Plancton's own parent by containers their engine no longer knows.
 * A Docker-in-Docker engine that sees the host's cgroup root (the chart's top-level placement)
 * puts its pilots in the host's `/plancton`; when its container is killed, its PID namespace ends
 * and the pilots with it, but their cgroup directories stay (the engine removes them only when it
 * restarts on the same data root). A new pod's engine, with a new data root, never knew them.
 */
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { exists } from './kernel-file.ts';

/** A container's full id, as engines name their cgroups. */
const CONTAINER_ID = /^[0-9a-f]{64}$/;

/** Plancton's parent `name` in every hierarchy under `root`: the unified one (v2), or each v1 one. */
async function parentDirs(root: string, name: string): Promise<string[]> {
  if (await exists(join(root, 'cgroup.controllers'))) return [join(root, name)];
  const hierarchies = await readdir(root).catch(() => []);
  const out: string[] = [];
  for (const h of hierarchies) if (await exists(join(root, h, 'cgroup.procs'))) out.push(join(root, h, name));
  return out;
}

/**
 * Removes, in Plancton's parent `name` (one plain directory name) under the cgroup root `root`, the
 * directories named by a container id that `known` does not hold. Only empty groups can go: the
 * kernel refuses to remove a group with a process or a child in it, so a group still in use stays
 * whatever the list says. Returns the directories removed.
 */
export async function removeStalePilotGroups(
  root: string,
  name: string,
  known: ReadonlySet<string>,
): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of await parentDirs(root, name)) {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isDirectory() || !CONTAINER_ID.test(e.name) || known.has(e.name)) continue;
      try {
        await rmdir(join(dir, e.name));
        removed.push(join(dir, e.name));
      } catch {
        // in use (EBUSY) or gone already: not ours to force
      }
    }
  }
  return removed;
}
