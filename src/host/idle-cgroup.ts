import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineInfo } from '../core/pilot-shape.ts';
import { exists, readKernelFile, readKnob } from './kernel-file.ts';

/** The pilots' parent cgroup, set to the lowest CPU weight the kernel offers. */
export interface IdleCgroup {
  /** What Docker gets as `--cgroup-parent`. */
  readonly parent: string;
  /** The parent's CPU usage (all pilots together): `cpuacct.usage` (ns) or `cpu.stat` (usage_usec). */
  readonly usageFile: string;
  /** What was written, for the start-up log and status, e.g. `cpu.shares=2, cpu.idle=1`. */
  readonly settings: string;
}

export type IdleSetup =
  { readonly ok: true; readonly cgroup: IdleCgroup } | { readonly ok: false; readonly reason: string };

/** cgroup v1's lowest `cpu.shares`, v2's lowest `cpu.weight`. */
export const V1_SHARES = 2;
export const V2_WEIGHT = 1;

/**
 * Creates the parent cgroup `name` with the lowest CPU weight and, where the kernel has it,
 * `cpu.idle=1` (SCHED_IDLE for the whole group), so that the owner's processes take a CPU back
 * within a scheduler tick while the pilots still use every idle cycle. Supports Docker's
 * cgroupfs driver on cgroup v1 and v2; anything else is reported, never guessed at.
 */
export async function setupIdleCgroup(root: string, name: string, engine: EngineInfo): Promise<IdleSetup> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name))
    return { ok: false, reason: `cgroup_parent "${name}" must be one plain directory name` };
  if (engine.cgroupDriver !== 'cgroupfs') {
    return {
      ok: false,
      reason: `the engine uses the ${engine.cgroupDriver} cgroup driver; idle-priority pilots need the cgroupfs driver for now`,
    };
  }
  try {
    return engine.cgroupVersion === '2' ? await setupV2(root, name) : await setupV1(root, name);
  } catch (err) {
    return { ok: false, reason: `cannot set up ${join(root, name)}: ${(err as Error).message}` };
  }
}

async function setupV1(root: string, name: string): Promise<IdleSetup> {
  const cpuDir = (await exists(join(root, 'cpu', 'cpu.shares'))) ? join(root, 'cpu') : join(root, 'cpu,cpuacct');
  if (!(await exists(join(cpuDir, 'cpu.shares'))))
    return { ok: false, reason: `no cgroup v1 cpu controller under ${root}` };
  const dir = join(cpuDir, name);
  await mkdir(dir, { recursive: true });
  const settings = await lowestWeight(dir, 'cpu.shares', V1_SHARES);
  const acct = (await exists(join(root, 'cpuacct'))) ? join(root, 'cpuacct') : cpuDir;
  await mkdir(join(acct, name), { recursive: true });
  return {
    ok: true,
    cgroup: {
      parent: `/${name}`,
      usageFile: join(acct, name, 'cpuacct.usage'),
      settings: `${dir}: ${settings.join(', ')}`,
    },
  };
}

async function setupV2(root: string, name: string): Promise<IdleSetup> {
  const controllers = await readFile(join(root, 'cgroup.controllers'), 'utf8').catch(() => '');
  if (!controllers.split(/\s+/).includes('cpu')) return { ok: false, reason: `no cgroup v2 cpu controller at ${root}` };
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  // the children (the pilots) need the controllers delegated to them
  const wanted = ['cpu', 'memory', 'pids', 'io', 'cpuset'].filter((c) => controllers.split(/\s+/).includes(c));
  await writeFile(join(dir, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' ')).catch(() => undefined);
  const settings = await lowestWeight(dir, 'cpu.weight', V2_WEIGHT);
  return {
    ok: true,
    cgroup: { parent: `/${name}`, usageFile: join(dir, 'cpu.stat'), settings: `${dir}: ${settings.join(', ')}` },
  };
}

/**
 * `cpu.idle=1` where the kernel has it (SCHED_IDLE for the group; the kernel then pins the weight
 * to its minimum and refuses weight writes with EINVAL), else the lowest weight.
 */
async function lowestWeight(dir: string, weightFile: string, weight: number): Promise<string[]> {
  if (await exists(join(dir, 'cpu.idle'))) {
    await writeFile(join(dir, 'cpu.idle'), '1\n');
    const effective = (await readFile(join(dir, weightFile), 'utf8').catch(() => '?')).trim();
    return ['cpu.idle=1', `${weightFile}=${effective} (pinned by cpu.idle)`];
  }
  await writeFile(join(dir, weightFile), `${weight}\n`);
  return [`${weightFile}=${weight}`];
}

/**
 * Sets the group in `dir` (a v1 `cpu` or v2 directory that already exists) to idle priority, the
 * same way as the parent Plancton creates: used where the engine really put the pilots' parent
 * (under a Docker-in-Docker engine's own cgroup, not at the host's root). Returns what was set.
 */
export async function makeGroupIdle(dir: string): Promise<string> {
  const v1 = await exists(join(dir, 'cpu.shares'));
  return `${dir}: ${(await lowestWeight(dir, v1 ? 'cpu.shares' : 'cpu.weight', v1 ? V1_SHARES : V2_WEIGHT)).join(', ')}`;
}

/**
 * Keeps the pilots' parent that Plancton set up (`dir`, v1 `cpu` or v2 directory) at idle
 * priority: when neither `cpu.idle=1` nor the lowest weight is found there (something reset it),
 * sets it again as at start. Returns what was found, and whether it was written.
 */
export async function ensureParentIdle(dir: string): Promise<EngineIdle> {
  const k = await readCpuKnobs(dir);
  const found = [
    k.idle === undefined ? undefined : `cpu.idle=${k.idle}`,
    k.shares === undefined ? undefined : `cpu.shares=${k.shares}`,
    k.weight === undefined ? undefined : `cpu.weight=${k.weight}`,
  ]
    .filter(Boolean)
    .join(', ');
  if (idleSetting(k) !== undefined) return { found, written: false };
  await makeGroupIdle(dir);
  return { found, written: true };
}

/** A group's CPU knobs as read back (v1 `cpu.shares`, or v2 `cpu.weight` where there is no `cpu.shares`); undefined: no such file. */
export interface CpuKnobs {
  readonly idle?: string | undefined;
  readonly shares?: string | undefined;
  readonly weight?: string | undefined;
}

export async function readCpuKnobs(dir: string): Promise<CpuKnobs> {
  const idle = await readKnob(join(dir, 'cpu.idle'));
  const shares = await readKnob(join(dir, 'cpu.shares'));
  const weight = shares === undefined ? await readKnob(join(dir, 'cpu.weight')) : undefined;
  return { idle, shares, weight };
}

/** What makes a group idle, from its knobs: `cpu.idle=1`, or the lowest weight; undefined: it is not. */
export function idleSetting(k: CpuKnobs): string | undefined {
  if (k.idle === '1') return 'cpu.idle=1';
  if (k.shares !== undefined && Number(k.shares) <= V1_SHARES) return `cpu.shares=${k.shares}`;
  if (k.weight !== undefined && Number(k.weight) <= V2_WEIGHT) return `cpu.weight=${k.weight}`;
  return undefined;
}

/** What ensureEngineIdle or ensureParentIdle found, and whether it was written. */
export interface EngineIdle {
  /** `cpu.idle` as found (undefined: no such file). */
  readonly found: string | undefined;
  /** Plancton wrote it (it was not 1). */
  readonly written: boolean;
}

/**
 * Sets `cpu.idle=1` on a Docker-in-Docker engine's own container cgroup `dir` (v1 `cpu` or v2
 * directory) unless it is already so, and reads it back. Only `cpu.idle`: the weight, quota and
 * memory of a container are its runtime's (the kubelet's), never written here. Throws when the
 * kernel has no `cpu.idle` (before Linux 5.15) or the write does not hold.
 */
export async function ensureEngineIdle(dir: string): Promise<EngineIdle> {
  const file = join(dir, 'cpu.idle');
  const found = (await readFile(file, 'utf8').catch(() => undefined))?.trim();
  if (found === undefined) throw new Error(`${file} is missing (cpu.idle needs Linux 5.15 or later)`);
  if (found === '1') return { found, written: false };
  await writeFile(file, '1\n');
  const back = (await readFile(file, 'utf8')).trim();
  if (back !== '1') throw new Error(`wrote 1 to ${file}, read back ${back}`);
  return { found, written: true };
}

/** All pilots' CPU time so far, in nanoseconds; undefined before the first pilot made the file. */
export async function readGroupUsageNs(file: string): Promise<number | undefined> {
  const text = await readKernelFile(file).catch(() => undefined);
  if (text === undefined) return undefined;
  if (file.endsWith('cpu.stat')) {
    const m = /^usage_usec (\d+)$/m.exec(text);
    return m ? Number(m[1]) * 1000 : undefined;
  }
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : undefined;
}
