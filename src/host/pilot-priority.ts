/**
 * The CPU priority the kernel really gives the pilots, read back from their own cgroups: for each
 * pilot, the ancestor group (closest to the root) that runs at idle priority (`cpu.idle=1`, or
 * the lowest `cpu.shares` / `cpu.weight`). A group at idle priority yields only to its siblings,
 * so pilots under one that is not a child of the hierarchy's root (a Docker-in-Docker engine's
 * `/docker/<id>/plancton`) yield only inside that engine's container, not to the host's work.
 */
import { readKnob } from './kernel-file.ts';
import { dirname, relative } from 'node:path';
import type { PilotCgroup } from './pilot-cgroups.ts';

/** What `status` shows as the pilots' priority. */
export interface PilotPriority {
  /** Every pilot found runs under an idle group that is a child of the hierarchy's root. */
  readonly enabled: boolean;
  readonly detail: string;
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
  const shares = await readKnob(`${dir}/cpu.shares`);
  if (shares !== undefined) return `cpu.shares=${shares}`;
  return `cpu.weight=${(await readKnob(`${dir}/cpu.weight`)) ?? '?'}`;
}

/** Reads the pilots' priority from their own cgroups; undefined when no pilot was found. */
export async function readPilotPriority(pilots: ReadonlyMap<string, PilotCgroup>): Promise<PilotPriority | undefined> {
  if (pilots.size === 0) return undefined;
  const groups = new Map<string, { why: string; top: boolean; count: number }>();
  let notIdle: string | undefined;
  for (const [id, c] of pilots) {
    const root = c.cpuRoot;
    let found: { dir: string; why: string } | undefined;
    for (let dir = c.cpuDir; dir.length > root.length && dir.startsWith(root); dir = dirname(dir)) {
      const why = await idleOf(dir);
      if (why) found = { dir, why };
    }
    if (!found) {
      notIdle ??= `pilot ${id.slice(0, 12)} in ${relative(root, c.cpuDir) || '/'}: no idle-priority group above it (${await weightOf(c.cpuDir)})`;
      continue;
    }
    const g = groups.get(found.dir) ?? { why: found.why, top: dirname(found.dir) === root, count: 0 };
    g.count++;
    groups.set(found.dir, g);
  }
  const parts = [...groups].map(([dir, g]) => `${g.count} pilot(s) under ${dir}: ${g.why}`);
  const nested = [...groups].filter(([, g]) => !g.top);
  const outer = await Promise.all(
    nested.map(
      async ([dir]) => `${dirname(dir)} (${await weightOf(dirname(dir))}) competes with the host at normal weight`,
    ),
  );
  const enabled = notIdle === undefined && nested.length === 0;
  const detail = [
    ...(notIdle ? [notIdle] : []),
    ...parts,
    ...(outer.length ? [`idle only inside ${outer.join('; ')}`] : []),
  ].join('; ');
  return { enabled, detail: `read from the pilots' cgroups: ${detail}` };
}
