/**
 * Overhead: the daemon's own CPU and memory with 50 pilots (busybox `sleep`, cpus_per_dock 0.01,
 * max_docks 50), over a window after the fill, at main_sleep 30 (the default) and, for
 * information, at main_sleep 5 (the same pilots, adopted by a restarted daemon), and at main_sleep 30
 * with metrics_listen and influxdb_url set (their libraries are loaded only then). Baseline: the
 * same daemon with max_docks 0 (no pilot), in the same run.
 *
 * CPU is utime + stime of the daemon's process (/proc/<pid>/stat, 10 ms ticks) over the window,
 * cross-checked with the run time of all its threads (/proc/<pid>/task/* /schedstat, ns); RSS is
 * VmRSS sampled every second (peak and last). The engine's own work answering the daemon
 * (dockerd) is not included; it is printed beside it for information.
 *
 *   node bench/overhead.ts [--window 60] [--pilots 50]
 */
import { readFileSync, readdirSync } from 'node:fs';
import { BenchRun, f2, options, sleep, table, type BenchDaemon } from './common.ts';
import { MiB, processCpuSec, processRssBytes, processRunSec } from './host.ts';

const opt = options({ window: '60', pilots: '50' });
const windowMs = Number(opt.window) * 1000;
const nPilots = Number(opt.pilots);
const run = new BenchRun(`Overhead: the daemon's CPU and RSS with ${nPilots} pilots`);

/** The pid of dockerd, to show the engine's share beside the daemon's; undefined when not found. */
function dockerdPid(): number | undefined {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'dockerd') return Number(p);
    } catch {
      // gone
    }
  }
  return undefined;
}

interface Sample {
  readonly cpuPct: number;
  readonly runPct: number;
  readonly rssPeakMiB: number;
  readonly rssLastMiB: number;
  readonly iterations: number;
  readonly dockerdPct: number;
  readonly pilots: number;
}

async function measure(d: BenchDaemon): Promise<Sample> {
  const pid = d.pid;
  const engine = dockerdPid();
  const it0 = d.process.status()?.iterations ?? 0;
  const t0 = Date.now();
  const c0 = processCpuSec(pid);
  const r0 = processRunSec(pid);
  const e0 = engine === undefined ? NaN : processCpuSec(engine);
  let peak = 0;
  let last = 0;
  while (Date.now() - t0 < windowMs) {
    last = processRssBytes(pid);
    peak = Math.max(peak, last);
    await sleep(1000);
  }
  const sec = (Date.now() - t0) / 1000;
  return {
    cpuPct: ((processCpuSec(pid) - c0) / sec) * 100,
    runPct: ((processRunSec(pid) - r0) / sec) * 100,
    rssPeakMiB: peak / MiB,
    rssLastMiB: last / MiB,
    iterations: (d.process.status()?.iterations ?? 0) - it0,
    dockerdPct: engine === undefined ? NaN : ((processCpuSec(engine) - e0) / sec) * 100,
    pilots: (await d.running()).length,
  };
}

const settings = (maxDocks: number, mainSleep: number): Record<string, unknown> => ({
  max_docks: maxDocks,
  docks_per_loop: 10,
  cpus_per_dock: 0.01,
  max_dock_mem: 16 * MiB,
  docker_image: 'busybox',
  docker_cmd: ['sleep', '3600'],
  cgroup_parent: run.cgroup,
  main_sleep: mainSleep,
});

await run.main(async () => {
  await run.header({ windowSec: windowMs / 1000, pilots: nPilots, logLevel: 'info' });
  const rows: Array<[string, Sample]> = [];

  const idle = run.daemon(settings(0, 30));
  await sleep(5000);
  rows.push(['0 pilots, main_sleep 30 (baseline)', await measure(idle)]);
  await idle.stop();
  console.log('baseline done');

  const a = run.daemon(settings(nPilots, 30));
  await a.waitRunning(nPilots, 120_000);
  await sleep(5000);
  rows.push([`${nPilots} pilots, main_sleep 30`, await measure(a)]);
  console.log('main_sleep 30 done');
  // the same pilots, adopted by a daemon at main_sleep 5
  await a.process.kill('SIGTERM');
  const b = run.daemon(settings(nPilots, 5), { instance: a.instance });
  await sleep(5000);
  rows.push([`${nPilots} pilots, main_sleep 5 (information)`, await measure(b)]);
  await b.process.kill('SIGTERM');
  // and with both monitoring outputs on (prom-client and influx loaded): /metrics served, an InfluxDB URL that refuses (points queue)
  const c = run.daemon(
    {
      ...settings(nPilots, 30),
      metrics_listen: '127.0.0.1:0',
      influxdb_url: 'http://127.0.0.1:9#plancton',
      influxdb_flush_interval: 5,
    },
    { instance: a.instance },
  );
  await sleep(5000);
  rows.push([`${nPilots} pilots, main_sleep 30, metrics_listen and influxdb_url set (information)`, await measure(c)]);
  await c.stop();
  await b.stop();
  await a.stop();

  console.log();
  table(
    [
      'case',
      'pilots',
      'iterations',
      'daemon CPU (% of a core, stat)',
      'same, schedstat',
      'RSS peak (MiB)',
      'RSS last (MiB)',
      'dockerd CPU (%)',
    ],
    rows.map(([name, s]) => [
      name,
      s.pilots,
      s.iterations,
      f2(s.cpuPct),
      f2(s.runPct),
      f2(s.rssPeakMiB),
      f2(s.rssLastMiB),
      f2(s.dockerdPct),
    ]),
  );
  const main = rows[1]?.[1];
  if (main) {
    const ok = main.runPct <= 1 && main.rssPeakMiB * MiB <= 100e6;
    console.log(
      `\nRESULT ${nPilots} pilots at main_sleep 30: CPU ${f2(main.runPct)}% of a core (target <= 1%), RSS peak ${f2(main.rssPeakMiB)} MiB = ${f2((main.rssPeakMiB * MiB) / 1e6)} MB (target <= 100 MB): ${ok ? 'met' : 'MISSED'}`,
    );
  }
});
