/**
 * Interference: how much busy pilots slow a CPU-bound job of the host's owner.
 *
 * The owner job is N = ncpus host processes, each a fixed integer loop in `node -e`, timed from
 * spawn to the last exit. It runs alone (solo); next to N busy-loop pilots managed by Plancton
 * (cpu_policy owner, the idle-priority parent cgroup, every other key at its default); next to
 * the same containers started by hand at default priority (unmanaged), and under a cpu.idle=1
 * parent made by hand (raw-idle: what idle priority itself gives on this machine, without
 * Plancton; on a virtual CPU busy siblings cost the owner even at idle priority); and next to pilots under
 * the 0.6 policy (cpu_policy total, no idle cgroup, no pausing). Conditions are interleaved, in
 * a rotating order, for every repetition; each pilot condition starts its pilots afresh, waits
 * until all N run, lets them spin, runs the job, and removes them.
 *
 * Pilots get cpus_per_dock 0.8 (all cases alike): Plancton's start rule fills floor(idle * 0.95 *
 * ncpus / cpus_per_dock) pilots, so with 1 CPU per pilot it never starts a second one on 2 CPUs
 * (see bench/harvest.ts), and at 0.8 it starts two while the rest of the host uses under ~15%.
 * The quota does not bind while the owner competes (each of 2 + 2 busy processes gets ~0.5 CPU
 * at equal weight), so it does not soften the unmanaged case. A pilot case that does not reach
 * ncpus pilots (another job busy on the machine) is tried again, up to 3 times.
 *
 *   node bench/interference.ts [--reps 5] [--work 1000000000] [--cpus-per-dock 0.8] [--v06 defaults|scaled]
 */
import { BUSY_LOOP, BenchRun, f2, f3, NCPUS, options, sleep, table, timeJob } from './common.ts';
import { median, MiB } from './host.ts';

const opt = options({ reps: '5', work: '1000000000', 'cpus-per-dock': '0.8', v06: 'defaults', settle: '2' });
const reps = Number(opt.reps);
const cpusPerDock = Number(opt['cpus-per-dock']);
const settleMs = Number(opt.settle) * 1000;
const job = [
  'node',
  '-e',
  `let x = 0; for (let i = 0; i < ${Number(opt.work)}; i++) x = (x + i * 7) | 0; if (x === 1) console.log(x);`,
];

/** 0.6's timing keys: its defaults, or scaled down so that it reacts within a job of a few seconds. */
const V06_TIMING =
  opt.v06 === 'scaled'
    ? { main_sleep: 1, grace_kill: 2, grace_spawn: 2 }
    : { main_sleep: 30, grace_kill: 120, grace_spawn: 60 };
const PILOT = {
  max_docks: NCPUS,
  cpus_per_dock: cpusPerDock,
  docker_image: 'busybox',
  docker_cmd: BUSY_LOOP,
  max_dock_mem: 64 * MiB,
  docks_per_loop: 4,
};

type Condition = 'solo' | 'plancton' | 'raw-idle' | 'unmanaged' | 'v06';
const CONDITIONS: readonly Condition[] = ['solo', 'plancton', 'raw-idle', 'unmanaged', 'v06'];

const run = new BenchRun('Interference: a CPU-bound owner job next to pilots that fill the host');

/** Pilots for one condition, running and spinning; returns how to end them and what they were. */
async function pilotsFor(c: Condition): Promise<{ end: () => Promise<void>; note: () => Promise<string> }> {
  if (c === 'solo') return { end: () => Promise.resolve(), note: () => Promise.resolve('') };
  if (c === 'unmanaged' || c === 'raw-idle') {
    // raw-idle: the same containers under a cpu.idle=1 parent made by hand, the floor of what idle priority gives on this machine
    const idle = c === 'raw-idle' ? run.idleParent() : [];
    await run.rawContainers(NCPUS, ['--cpus', String(cpusPerDock), '-m', String(64 * MiB), ...idle], BUSY_LOOP);
    await sleep(settleMs);
    return { end: () => run.removeRaw(), note: () => Promise.resolve(`${NCPUS} pilots`) };
  }
  const settings =
    c === 'plancton'
      ? { ...PILOT, cpu_policy: 'owner', cgroup_parent: run.cgroup }
      : { ...PILOT, ...V06_TIMING, cpu_policy: 'total', pause_max: 0, overload_hysteresis: 0, cgroup_parent: '' };
  let d = run.daemon(settings);
  for (let attempt = 1; ; attempt++) {
    try {
      // a busy host may leave room for one pilot per main_sleep: allow two iterations
      await d.waitRunning(NCPUS, 35_000);
      break;
    } catch (err) {
      await d.stop();
      if (attempt >= 3) throw err;
      console.log(`  ${c}: ${(err as Error).message}; trying again`);
      d = run.daemon(settings);
    }
  }
  await sleep(settleMs);
  return {
    end: () => d.stop(),
    note: async () => {
      const events = ['pilot-paused', 'pilot-removed'].map(
        (e) => `${e} x${d.process.log.split(`"event":"${e}"`).length - 1}`,
      );
      return `${(await d.running()).length} running at the end; ${events.join(', ')}`;
    },
  };
}

await run.main(async () => {
  await run.header({
    reps,
    work: Number(opt.work),
    ownerProcesses: NCPUS,
    cpusPerDock,
    maxDocks: NCPUS,
    v06: opt.v06,
    V06_TIMING,
    settleMs,
  });
  const times: Record<Condition, number[]> = { solo: [], plancton: [], 'raw-idle': [], unmanaged: [], v06: [] };
  const paired: Record<Condition, number[]> = { solo: [], plancton: [], 'raw-idle': [], unmanaged: [], v06: [] };
  for (let r = 0; r < reps; r++) {
    const order = CONDITIONS.map((_, i) => CONDITIONS[(i + r) % CONDITIONS.length] as Condition);
    const thisRep: Partial<Record<Condition, number>> = {};
    for (const c of order) {
      const pilots = await pilotsFor(c);
      try {
        const t = await timeJob(NCPUS, job);
        thisRep[c] = t;
        times[c].push(t);
        console.log(`rep ${r + 1} ${c.padEnd(9)} ${f3(t)} s  ${await pilots.note()}`);
      } finally {
        await pilots.end();
      }
    }
    for (const c of CONDITIONS) paired[c].push((thisRep[c] ?? NaN) / (thisRep.solo ?? NaN));
  }
  const solo = median(times.solo);
  console.log();
  table(
    ['condition', 'times (s)', 'median (s)', 'median / solo median', 'median of per-rep ratios'],
    CONDITIONS.map((c) => [
      c,
      times[c].map(f2).join(' '),
      f3(median(times[c])),
      f3(median(times[c]) / solo),
      f3(median(paired[c])),
    ]),
  );
  const ratio = median(paired.plancton);
  console.log(
    `\nRATIO plancton/solo = ${f3(ratio)} (target <= 1.03: ${ratio <= 1.03 ? 'met' : 'MISSED'}); raw-idle/solo = ${f3(median(paired['raw-idle']))} (the machine's floor for idle-priority pilots); unmanaged/solo = ${f3(median(paired.unmanaged))}; v06/solo = ${f3(median(paired.v06))}`,
  );
});
