/**
 * Harvest: on an idle host, the share of the idle CPU that busy-loop pilots actually use.
 *
 *   harvest = pilots' CPU-seconds / (idle CPU-seconds left + pilots' CPU-seconds)
 *
 * over a window after the fill. The pilots' CPU comes from cgroup accounting (cpuacct.usage of
 * their parent cgroup, or of each container for the unmanaged case); idle from /proc/stat
 * (idle + iowait) over the same window, so that what the pilots used counts as available and
 * what other processes used does not. Cases, one after another in the same run:
 *   - raw: ncpus containers with --cpus 1 at default priority (what the engine alone gets);
 *   - raw-idle: the same under a parent cgroup with cpu.idle=1, made by hand (what idle
 *     priority itself costs);
 *   - plancton: max_docks = ncpus, cpus_per_dock 1, cpu_policy owner, its idle cgroup, every
 *     other key at its default (main_sleep 30);
 *   - plancton-half: the same with cpus_per_dock 0.5 and max_docks 2 * ncpus.
 * Plancton's parent cgroup is one of this run's own (`plancton-bench-<id>`), so that other
 * Plancton instances on the host do not count.
 *
 *   node bench/harvest.ts [--window 30] [--settle 3]
 */
import { BUSY_LOOP, BenchRun, f2, f3, NCPUS, options, sleep, table } from './common.ts';
import { CLOCK_TICKS, cpuacctNs, MiB, readCpuTicks } from './host.ts';

const opt = options({ window: '30', settle: '3' });
const windowMs = Number(opt.window) * 1000;
const settleMs = Number(opt.settle) * 1000;
const run = new BenchRun('Harvest: the idle CPU busy pilots actually use');

interface Window {
  readonly pilots: number;
  readonly pilotSec: number;
  readonly idleSec: number;
  readonly busySec: number;
  readonly wallSec: number;
}

/** Measures over the window: `usage()` is the pilots' CPU time so far in ns. */
async function measure(usage: () => number, count: () => Promise<number>): Promise<Window> {
  const t0 = Date.now();
  const c0 = readCpuTicks();
  const u0 = usage();
  await sleep(windowMs);
  const u1 = usage();
  const c1 = readCpuTicks();
  return {
    pilots: await count(),
    pilotSec: (u1 - u0) / 1e9,
    idleSec: (c1.idle - c0.idle) / CLOCK_TICKS,
    busySec: (c1.busy - c0.busy) / CLOCK_TICKS,
    wallSec: (Date.now() - t0) / 1000,
  };
}

const harvestOf = (w: Window): number => w.pilotSec / (w.idleSec + w.pilotSec);

async function raw(idle: boolean): Promise<Window> {
  const args = ['--cpus', '1', '-m', String(64 * MiB)];
  const group = `${run.cgroup}-raw`;
  if (idle) args.push(...run.idleParent());
  const ids = await run.rawContainers(NCPUS, args, BUSY_LOOP);
  try {
    await sleep(settleMs);
    const usage = idle
      ? () => cpuacctNs(group) ?? NaN
      : () => ids.reduce((a, id) => a + (cpuacctNs(`docker/${id}`) ?? NaN), 0);
    return await measure(usage, () => Promise.resolve(ids.length));
  } finally {
    await run.removeRaw();
  }
}

async function plancton(cpusPerDock: number, maxDocks: number): Promise<Window> {
  const d = run.daemon({
    max_docks: maxDocks,
    cpus_per_dock: cpusPerDock,
    docker_image: 'busybox',
    docker_cmd: BUSY_LOOP,
    max_dock_mem: 64 * MiB,
    cgroup_parent: run.cgroup,
    cpu_policy: 'owner',
  });
  try {
    await d.waitRunning(1, 30_000);
    await sleep(settleMs);
    const w = await measure(
      () => cpuacctNs(run.cgroup) ?? NaN,
      async () => (await d.running()).length,
    );
    console.log(`  plancton ${cpusPerDock} x ${maxDocks}: last decision ${JSON.stringify(d.process.status()?.fit)}`);
    return w;
  } finally {
    await d.stop();
  }
}

await run.main(async () => {
  await run.header({ windowSec: windowMs / 1000, settleSec: settleMs / 1000, ncpus: NCPUS });
  const cases: Array<[string, () => Promise<Window>]> = [
    ['raw (default priority)', () => raw(false)],
    ['raw-idle (cpu.idle=1 parent)', () => raw(true)],
    [`plancton (cpus_per_dock 1, max_docks ${NCPUS})`, () => plancton(1, NCPUS)],
    [`plancton-half (cpus_per_dock 0.5, max_docks ${2 * NCPUS})`, () => plancton(0.5, 2 * NCPUS)],
  ];
  const rows: Array<[string, Window]> = [];
  for (const [name, fn] of cases) {
    const w = await fn();
    rows.push([name, w]);
    console.log(`${name}: harvest ${f3(harvestOf(w))} (${w.pilots} pilots)`);
  }
  const base = harvestOf(rows[0]?.[1] as Window);
  console.log();
  table(
    ['case', 'pilots', 'pilots CPU (cores)', 'idle left (cores)', 'others busy (cores)', 'harvest', 'vs raw'],
    rows.map(([name, w]) => [
      name,
      w.pilots,
      f2(w.pilotSec / w.wallSec),
      f2(w.idleSec / w.wallSec),
      f2((w.busySec - w.pilotSec) / w.wallSec),
      f3(harvestOf(w)),
      f3(harvestOf(w) / base),
    ]),
  );
  const p = harvestOf(rows[2]?.[1] as Window);
  console.log(
    `\nRATIO plancton/raw = ${f3(p / base)}; plancton harvest ${f3(p)} (target >= 0.95: ${p >= 0.95 ? 'met' : 'MISSED'})`,
  );
});
