/**
 * Memory reclaim: an owner process allocates memory until available memory crosses `mem_floor`;
 * how long until Plancton's pilots have given back enough that memory is above the floor again
 * and the owner's allocation is complete, and whether anything was OOM-killed.
 *
 * This machine has 24 GiB and no swap, so a real exhaustion would endanger everything else on
 * it; the floor is set relative to the current MemAvailable instead: pilots (busybox shells
 * that each hold a 256 MiB string) take `pilots * 256 MiB`, the floor is put `margin` below
 * what is then available, and the owner (a host `node` process touching every page, in 64 MiB
 * steps) allocates the margin plus `over` MiB. Freeing memory then needs ceil(over / 256)
 * pilots to go. Plancton runs with its defaults (main_sleep 30, memory_stop_timeout 0, the
 * 0.5 s memory watch); the baseline is the same with mem_floor 0 and psi_memory 0 (no reclaim).
 * Cases alternate, `reps` times each. "Available" is what the memory rule holds the floor against:
 * MemAvailable plus the free pages in the kernel's per-CPU lists (readMemory(), src/host/zoneinfo.ts);
 * each rep also prints where MemAvailable alone stood against the floor at recovery.
 *
 *   node bench/memory-reclaim.ts [--reps 3] [--pilots 4] [--margin-mib 1024] [--over-mib 384]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BenchRun, f2, f3, options, sleep, table, type BenchDaemon } from './common.ts';
import { CGROUP_ROOT, memoryHog, oomKills, readMemory } from '../test/support/host.ts';
import { GiB, MiB, median, onHogSteps, processRunSec, type HogStep } from './host.ts';

const opt = options({ reps: '3', pilots: '4', 'margin-mib': '1024', 'over-mib': '384', timeout: '15' });
const reps = Number(opt.reps);
const nPilots = Number(opt.pilots);
const margin = Number(opt['margin-mib']) * MiB;
const over = Number(opt['over-mib']) * MiB;
const timeoutMs = Number(opt.timeout) * 1000;
const PILOT_BYTES = 256 * MiB;
/** 2^28 characters: the string doubles 28 times (peak about twice that while the last copy is made). */
const HOLD_256_MIB = [
  'sh',
  '-c',
  'a=x; i=0; while [ $i -lt 28 ]; do a=$a$a; i=$((i+1)); done; while :; do sleep 3600; done',
];

const run = new BenchRun('Memory reclaim: an owner crossing mem_floor, pilots holding memory');

/** Containers alive under this run's parent cgroup (their memory cgroups), with their usage. */
function pilotMemory(): { count: number; bytes: number } {
  const dir = join(CGROUP_ROOT, 'memory', run.cgroup);
  let count = 0;
  let bytes = 0;
  try {
    for (const e of readdirSync(dir)) {
      if (!statSync(join(dir, e)).isDirectory()) continue;
      count++;
      try {
        bytes += Number(readFileSync(join(dir, e, 'memory.usage_in_bytes'), 'utf8').trim());
      } catch {
        // removed while read
      }
    }
  } catch {
    // no pilot yet
  }
  return { count, bytes };
}

interface Outcome {
  readonly reclaimSec: number | undefined;
  /** MemAvailable alone (without the per-CPU lists) against the floor at recovery, MiB. */
  readonly memAvailableVsFloorMiB: number | undefined;
  readonly ownerDoneSec: number | undefined;
  readonly removed: number;
  readonly reasons: string;
  readonly ownerExit: string;
  readonly oom: string;
  readonly afterwards: string;
}

async function once(reclaim: boolean): Promise<Outcome> {
  const floorGuess = readMemory().availableBytes - nPilots * PILOT_BYTES - margin;
  const d: BenchDaemon = run.daemon({
    max_docks: nPilots,
    docks_per_loop: nPilots,
    cpus_per_dock: 0.1,
    max_dock_mem: 768 * MiB,
    docker_image: 'busybox',
    docker_cmd: HOLD_256_MIB,
    cgroup_parent: run.cgroup,
    mem_floor: reclaim ? floorGuess : 0,
    psi_memory: reclaim ? 20 : 0,
  });
  let hog: ReturnType<typeof memoryHog> | undefined;
  try {
    await d.waitRunning(nPilots, 30_000);
    // the pilots hold their strings
    const filled = Date.now();
    while (pilotMemory().bytes < nPilots * PILOT_BYTES) {
      if (Date.now() - filled > 30_000) throw new Error(`pilots hold only ${pilotMemory().bytes} bytes`);
      await sleep(100);
    }
    await sleep(1000);
    const floor = floorGuess;
    const start = readMemory().availableBytes;
    if (start < floor + margin / 2)
      throw new Error(
        `MemAvailable ${f2(start / GiB)} GiB is already near the floor ${f2(floor / GiB)} GiB: the host is busy, re-run`,
      );
    if (d.process.status()?.removals.length)
      throw new Error('pilots were removed before the owner started: the host is busy, re-run');
    const oom0 = oomKills();
    const toAllocate = start - floor + over;
    const steps: HogStep[] = [];
    hog = memoryHog(toAllocate);
    const h = hog;
    onHogSteps(h, (s) => steps.push(s));
    let ended = false;
    void h.finally(() => {
      ended = true;
    });
    // poll MemAvailable and the pilots until memory is back above the floor and the owner is done
    let crossAt: number | undefined;
    let recoveredAt: number | undefined;
    let memAvailableVsFloor: number | undefined;
    const t0 = Date.now();
    for (;;) {
      const now = Date.now();
      const reading = readMemory();
      const avail = reading.availableBytes;
      crossAt ??= steps.find((s) => s.available < floor)?.at ?? (avail < floor ? now : undefined);
      if (crossAt !== undefined && recoveredAt === undefined && avail >= floor && steps.some((s) => s.done)) {
        recoveredAt = now;
        memAvailableVsFloor = (reading.memAvailableBytes - floor) / MiB;
      }
      if (recoveredAt !== undefined || ended || now - t0 > timeoutMs) break;
      await sleep(20);
    }
    const done = steps.find((s) => s.done);
    // what the daemon does once memory is back over the floor but under floor * 1.25 (its recovery line)
    const it0 = d.process.status()?.iterations ?? 0;
    const cpu0 = processRunSec(d.pid);
    await sleep(3000);
    const it1 = d.process.status()?.iterations ?? 0;
    const cpu1 = processRunSec(d.pid);
    const afterwards = `${((it1 - it0) / 3).toFixed(1)} iterations/s, daemon ${f2(((cpu1 - cpu0) / 3) * 100)}% of a core, memoryLow=${String(d.process.status()?.fit?.memoryLow)}`;
    const ownerAlive = !ended;
    h.kill('SIGTERM');
    const r = await h;
    const removals = d.process.status()?.removals ?? [];
    const oomFlags = removals.filter((x) => x.oomKilled).length;
    const oom1 = oomKills();
    return {
      reclaimSec: crossAt !== undefined && recoveredAt !== undefined ? (recoveredAt - crossAt) / 1000 : undefined,
      memAvailableVsFloorMiB: memAvailableVsFloor,
      ownerDoneSec: crossAt !== undefined && done ? (done.at - crossAt) / 1000 : undefined,
      removed: removals.length,
      reasons: [...new Set(removals.map((x) => x.reason))].join(',') || '-',
      ownerExit: ownerAlive
        ? `alive until asked, then ${r.exitCode ?? r.signal}`
        : `ended by itself: ${r.exitCode ?? r.signal}`,
      oom: `kernel oom_kill +${oom0 === undefined || oom1 === undefined ? '?' : oom1 - oom0}, pilots OOMKilled ${oomFlags}`,
      afterwards,
    };
  } finally {
    hog?.kill('SIGKILL');
    await hog?.catch(() => undefined);
    await d.stop();
  }
}

await run.main(async () => {
  await run.header({
    reps,
    pilots: nPilots,
    pilotBytes: PILOT_BYTES,
    marginMiB: margin / MiB,
    overMiB: over / MiB,
    timeoutSec: timeoutMs / 1000,
    memAvailableGiB: f2(readMemory().availableBytes / GiB),
  });
  const results: Record<'plancton' | 'baseline', Outcome[]> = { plancton: [], baseline: [] };
  for (let r = 0; r < reps; r++) {
    for (const c of r % 2 ? (['baseline', 'plancton'] as const) : (['plancton', 'baseline'] as const)) {
      const o = await once(c === 'plancton');
      results[c].push(o);
      console.log(
        `rep ${r + 1} ${c.padEnd(8)} reclaim ${o.reclaimSec === undefined ? 'never' : `${f3(o.reclaimSec)} s (MemAvailable alone ${Math.round(o.memAvailableVsFloorMiB ?? NaN)} MiB from the floor then)`}; owner done ${o.ownerDoneSec === undefined ? '?' : `${f3(o.ownerDoneSec)} s`} after crossing; removed ${o.removed} (${o.reasons}); owner ${o.ownerExit}; ${o.oom}; then ${o.afterwards}`,
      );
    }
  }
  console.log();
  const med = (os: Outcome[]): string => {
    const xs = os.map((o) => o.reclaimSec).filter((x): x is number => x !== undefined);
    return xs.length === os.length
      ? f3(median(xs))
      : `${xs.length}/${os.length} recovered${xs.length ? `, median ${f3(median(xs))}` : ''}`;
  };
  table(
    [
      'case',
      'crossing -> above floor and owner done (s), per rep',
      'median (s)',
      'pilots removed',
      'owner (every rep)',
      'OOM (every rep)',
    ],
    (['plancton', 'baseline'] as const).map((c) => [
      c,
      results[c].map((o) => (o.reclaimSec === undefined ? 'never' : f3(o.reclaimSec))).join(' '),
      med(results[c]),
      results[c].map((o) => o.removed).join(' '),
      [...new Set(results[c].map((o) => o.ownerExit))].join('; '),
      [...new Set(results[c].map((o) => o.oom))].join('; '),
    ]),
  );
  const xs = results.plancton.map((o) => o.reclaimSec ?? Infinity);
  const m = median(xs);
  console.log(
    `\nRESULT plancton reclaim median ${f3(m)} s (target <= 2 s: ${m <= 2 ? 'met' : 'MISSED'}); baseline: ${results.baseline.filter((o) => o.reclaimSec === undefined).length}/${reps} never back above the floor within ${timeoutMs / 1000} s`,
  );
});
