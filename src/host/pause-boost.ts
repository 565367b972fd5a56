/**
 * Lets pilots at idle priority reach the freezer. The engine pauses a container by freezing its
 * cgroup, and the kernel freezes a runnable task only when that task runs. Next to a busy owner a
 * pilot under a `cpu.idle=1` group hardly ever runs, and runc, which thaws and re-freezes every
 * fifty tries to get past forks, gives up with "unable to freeze" after about 0.3 s (measured: 5
 * failures in 5 tries, two busy owner processes on 2 CPUs, Docker 20.10). So for the time of the
 * pause call only, the idle groups above the pilots being paused get the highest weight: their
 * tasks run within a scheduler tick, reach the freezer and stop there. The groups go back to idle
 * as soon as the call returns, whatever it returned.
 */
import { writeFile } from 'node:fs/promises';
import { readKnob } from './kernel-file.ts';
import { dirname, join } from 'node:path';
import type { PilotCgroup } from './pilot-cgroups.ts';

/** The highest weight of v1 `cpu.shares` and v2 `cpu.weight`. */
const MAX_WEIGHT = { 'cpu.shares': '262144', 'cpu.weight': '10000' } as const;

/** A group lifted for a pause: how to put it back. */
interface Lifted {
  readonly dir: string;
  readonly weightFile: keyof typeof MAX_WEIGHT;
  readonly weight: string;
  readonly idle: boolean;
}

/** The groups between a pilot and the root of its hierarchy that run at idle priority (`cpu.idle=1` or the lowest weight). */
export async function idleGroupsAbove(c: PilotCgroup): Promise<string[]> {
  const found: string[] = [];
  for (let dir = dirname(c.cpuDir); dir.length > c.cpuRoot.length && dir.startsWith(c.cpuRoot); dir = dirname(dir)) {
    if ((await readKnob(join(dir, 'cpu.idle'))) === '1') found.push(dir);
    else {
      const shares = await readKnob(join(dir, 'cpu.shares'));
      const weight = shares === undefined ? await readKnob(join(dir, 'cpu.weight')) : undefined;
      if ((shares !== undefined && Number(shares) <= 2) || (weight !== undefined && Number(weight) <= 1))
        found.push(dir);
    }
  }
  return found;
}

async function lift(dir: string): Promise<Lifted> {
  const weightFile = (await readKnob(join(dir, 'cpu.shares'))) === undefined ? 'cpu.weight' : 'cpu.shares';
  const idle = (await readKnob(join(dir, 'cpu.idle'))) === '1';
  // the kernel pins the weight while cpu.idle is 1 and refuses writes to it: idle goes first
  if (idle) await writeFile(join(dir, 'cpu.idle'), '0\n');
  const weight = (await readKnob(join(dir, weightFile))) ?? '';
  try {
    await writeFile(join(dir, weightFile), `${MAX_WEIGHT[weightFile]}\n`);
  } catch (err) {
    // without the weight, cpu.idle=0 alone would give the pilots normal weight for nothing: undo it
    if (idle) await writeFile(join(dir, 'cpu.idle'), '1\n');
    throw err;
  }
  return { dir, weightFile, weight, idle };
}

async function restore(l: Lifted): Promise<void> {
  if (l.weight) await writeFile(join(l.dir, l.weightFile), `${l.weight}\n`).catch(() => undefined);
  if (l.idle) await writeFile(join(l.dir, 'cpu.idle'), '1\n');
}

/**
 * Runs `fn` (the engine's pause of `ids`) with the idle groups above those pilots lifted to the
 * highest weight, and puts them back to idle afterwards, also when `fn` throws. Pilots whose
 * cgroups are not known are paused without it. A group that cannot be lifted or put back is
 * reported to `warn` (the pass's priority check then reads the truth back from the kernel).
 */
export class PauseBoost {
  readonly #locate: (ids: readonly string[]) => Promise<ReadonlyMap<string, PilotCgroup>>;
  readonly #warn: (message: string) => void;

  constructor(
    locate: (ids: readonly string[]) => Promise<ReadonlyMap<string, PilotCgroup>>,
    warn: (message: string) => void,
  ) {
    this.#locate = locate;
    this.#warn = warn;
  }

  /** Runs `fn` boosted; returns its result and the groups lifted for it. */
  async around<T>(ids: readonly string[], fn: () => Promise<T>): Promise<{ result: T; groups: readonly string[] }> {
    const located = await this.#locate(ids).catch(() => new Map<string, PilotCgroup>());
    const dirs = new Set<string>();
    for (const c of located.values()) for (const d of await idleGroupsAbove(c)) dirs.add(d);
    const lifted: Lifted[] = [];
    for (const dir of dirs) {
      try {
        lifted.push(await lift(dir));
      } catch (err) {
        this.#warn(`cannot lift ${dir} for a pause: ${(err as Error).message}`);
      }
    }
    try {
      return { result: await fn(), groups: lifted.map((l) => l.dir) };
    } finally {
      for (const l of lifted.reverse())
        await restore(l).catch((err: unknown) =>
          this.#warn(`cannot put ${l.dir} back to idle priority after a pause: ${(err as Error).message}`),
        );
    }
  }
}
