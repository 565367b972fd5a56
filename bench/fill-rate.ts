/**
 * Fill rate: from `plancton run` to max_docks pilots running, against the raw engine starting
 * the same containers (same image, command, limits, labels, environment, parent cgroup) through
 * the same API with the same concurrency, in the same run.
 *
 * The end of a fill is the latest `State.StartedAt` of its containers (the engine's own clock),
 * so polling adds nothing. Plancton's time is split into start-up (process start to the first
 * container created: loading, the engine check, the cgroup set-up and the 1 s CPU baseline) and
 * filling (first created to last started). The raw engine is driven with dockerode, keeping
 * docks_per_loop requests in flight (a pool); for information also in batches of docks_per_loop
 * (each batch waits for its slowest, as Plancton's iterations do).
 *
 * Both cases are watched the same way, through the engine's event stream (one connection, the
 * engine pushes each `start`): polling `docker ps` ten times a second would cost the engine and
 * this 2-CPU host CPU during Plancton's fill only.
 *
 * Plancton runs with its defaults (main_sleep 30): an iteration that starts fewer than
 * docks_per_loop pilots (because fewer fit) waits main_sleep before the next one, and that wait
 * is part of its time. Each iteration's own account (host busy -> pilots fitting, started) is
 * printed, since what it counts as the owner's CPU decides how fast it fills.
 *
 *   node bench/fill-rate.ts [--reps 3] [--max-docks 20] [--docks-per-loop 4] [--timeout 100] [--cpus-per-dock 0.05]
 */
import Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { readJsonLines } from '../src/engine/json-stream.ts';
import { BenchRun, f2, f3, options, table } from './common.ts';
import { docker, TEST_RUN_LABEL } from '../test/support/docker.ts';
import { median, MiB, readCpuTicks } from './host.ts';

const opt = options({ reps: '3', 'max-docks': '20', 'docks-per-loop': '4', timeout: '100', 'cpus-per-dock': '0.05' });
const reps = Number(opt.reps);
const maxDocks = Number(opt['max-docks']);
const perLoop = Number(opt['docks-per-loop']);
const CMD = ['sleep', '3600'];
const CPUS = Number(opt['cpus-per-dock']);
const MEM = 64 * MiB;

const run = new BenchRun('Fill rate: plancton run to max_docks pilots, against the raw engine');
const engine = new Docker();

/** Times of the containers with these ids: first created, last started (ms since the epoch). */
async function span(ids: readonly string[]): Promise<{ firstCreated: number; lastStarted: number }> {
  const out = await docker(['inspect', '-f', '{{.Created}} {{.State.StartedAt}}', ...ids]);
  const rows = out.split('\n').map((l) => l.split(' ').map((t) => Date.parse(t)));
  return {
    firstCreated: Math.min(...rows.map((r) => r[0] ?? NaN)),
    lastStarted: Math.max(...rows.map((r) => r[1] ?? NaN)),
  };
}

/**
 * Follows the engine's `start` events of containers with `label` from now on; `until(n)` resolves
 * with the ids once n have started, or undefined after the time-out.
 */
async function startsOf(
  label: string,
): Promise<{ until(n: number, timeoutMs: number): Promise<string[] | undefined>; close(): void }> {
  const ids: string[] = [];
  const waiters: Array<() => void> = [];
  const ac = new AbortController();
  const stream = await engine.getEvents({
    filters: { type: ['container'], event: ['start'], label: [label] },
    abortSignal: ac.signal,
  } as Docker.GetEventsOptions);
  readJsonLines(stream as Readable, (event) => {
    ids.push((event as { id: string }).id);
    for (const w of waiters.splice(0)) w();
  });
  stream.on('error', () => undefined);
  return {
    async until(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (ids.length < n && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, Math.max(0, deadline - Date.now())).unref();
        });
      }
      return ids.length >= n ? [...new Set(ids)] : undefined;
    },
    close: () => ac.abort(),
  };
}

/** The create body Plancton sends for a pilot (src/engine/docker-engine.ts createBody), labelled for this run instead. */
function body(i: number): Docker.ContainerCreateOptions {
  const id = randomBytes(3).toString('hex');
  return {
    name: `bench-fill-${run.id}-${i}-${id}`,
    Image: 'busybox',
    Cmd: CMD,
    Hostname: `plancton-bench-${id}`,
    User: '0:0',
    Labels: {
      [TEST_RUN_LABEL]: run.id,
      'org.plancton-bench.pilot-id': id,
      'org.plancton-bench.config-hash': 'x'.repeat(16),
      'org.plancton-bench.version': '1.0.0-dev',
      'org.plancton-bench.managed-by': 'bench',
    },
    Env: [
      `PLANCTON_PILOT_ID=${id}`,
      'PLANCTON_HOST=bench',
      `PLANCTON_INSTANCE=bench-${run.id}`,
      `PLANCTON_CPUS=${CPUS}`,
      `PLANCTON_MEMORY_BYTES=${MEM}`,
      'PLANCTON_DEADLINE=0',
      'PLANCTON_STOP_TIMEOUT=10',
    ],
    HostConfig: {
      CpuPeriod: 100_000,
      CpuQuota: Math.round(CPUS * 100_000),
      Memory: MEM,
      MemorySwap: MEM,
      Binds: [],
      Devices: [],
      CapAdd: [],
      CapDrop: [],
      SecurityOpt: [],
      Privileged: false,
      CgroupParent: `/${run.cgroup}`,
    },
  };
}

/** Host CPU busy (%) over each raw fill, from /proc/stat. */
const busyDuringRaw: number[] = [];

async function createAndStart(i: number): Promise<string> {
  const c = await engine.createContainer(body(i));
  await c.start();
  return c.id;
}

/** The raw engine: `n` containers, `k` requests in flight (pool) or `k` per batch. */
async function raw(mode: 'pool' | 'batches'): Promise<number> {
  const watch = await startsOf(`${TEST_RUN_LABEL}=${run.id}`);
  const t0 = Date.now();
  const c0 = readCpuTicks();
  const ids: string[] = [];
  if (mode === 'pool') {
    let next = 0;
    await Promise.all(
      Array.from({ length: perLoop }, async () => {
        while (next < maxDocks) ids.push(await createAndStart(next++));
      }),
    );
  } else {
    for (let i = 0; i < maxDocks; i += perLoop) {
      ids.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(perLoop, maxDocks - i) }, (_, j) => createAndStart(i + j)),
        )),
      );
    }
  }
  const c1 = readCpuTicks();
  await watch.until(ids.length, 10_000);
  watch.close();
  const { lastStarted } = await span(ids);
  // what starting containers costs the host, all of it outside the containers (engine, shims, runc)
  busyDuringRaw.push((100 * (c1.busy - c0.busy)) / (c1.total - c0.total));
  await run.removeRaw();
  return (lastStarted - t0) / 1000;
}

/** The daemon's own account of each iteration during the fill: host busy, how many fit, how many it started. */
function iterations(log: string): string {
  return log
    .split('\n')
    .filter((l) => l.includes('"message":"iteration"'))
    .map((l) => {
      const it = JSON.parse(l) as { cpuBusyPct?: number; fitting?: number; started?: number; pilots?: number };
      return `${(it.cpuBusyPct ?? NaN).toFixed(0)}%->${it.fitting},+${it.started}`;
    })
    .join(' ');
}

/** The figures of the fills that finished. */
const done = (xs: readonly number[]): number[] => xs.filter((x) => !Number.isNaN(x));

async function plancton(): Promise<{ total: number; startup: number; filling: number }> {
  const instanceId = `bench-${run.id}-${randomBytes(2).toString('hex')}`;
  const watch = await startsOf(`org.plancton.instance=${instanceId}`);
  const t0 = Date.now();
  const d = run.daemon(
    {
      max_docks: maxDocks,
      docks_per_loop: perLoop,
      cpus_per_dock: CPUS,
      max_dock_mem: MEM,
      docker_image: 'busybox',
      docker_cmd: CMD,
      cgroup_parent: run.cgroup,
    },
    { logLevel: 'verbose', instance: instanceId },
  );
  try {
    const ids = await watch.until(maxDocks, Number(opt.timeout) * 1000);
    if (ids === undefined) {
      // not full within the time-out: counted as the time-out (so the ratio is an upper bound)
      const running = await d.running();
      console.log(
        `  plancton: ${running.length} of ${maxDocks} running after ${opt.timeout} s; counted as ${opt.timeout} s`,
      );
      return { total: Number(opt.timeout), startup: NaN, filling: NaN };
    }
    const { firstCreated, lastStarted } = await span(ids);
    return {
      total: (lastStarted - t0) / 1000,
      startup: (firstCreated - t0) / 1000,
      filling: (lastStarted - firstCreated) / 1000,
    };
  } finally {
    watch.close();
    const paused = d.process.log.split('"event":"pilot-paused"').length - 1;
    console.log(
      `  plancton iterations (busy% -> fitting, started): ${iterations(d.process.log)}; pilots paused by Plancton: ${paused}`,
    );
    await d.stop();
  }
}

await run.main(async () => {
  await run.header({ reps, maxDocks, docksPerLoop: perLoop, cmd: CMD, cpusPerDock: CPUS });
  const r: { pool: number[]; batches: number[]; total: number[]; startup: number[]; filling: number[] } = {
    pool: [],
    batches: [],
    total: [],
    startup: [],
    filling: [],
  };
  for (let i = 0; i < reps; i++) {
    const steps: Array<() => Promise<void>> = [
      async () => void r.pool.push(await raw('pool')),
      async () => {
        const p = await plancton();
        r.total.push(p.total);
        r.startup.push(p.startup);
        r.filling.push(p.filling);
      },
      async () => void r.batches.push(await raw('batches')),
    ];
    for (let j = 0; j < steps.length; j++) await steps[(i + j) % steps.length]?.();
    console.log(
      `rep ${i + 1}: raw pool ${f3(r.pool.at(-1) ?? NaN)} s, raw batches ${f3(r.batches.at(-1) ?? NaN)} s, plancton ${f3(r.total.at(-1) ?? NaN)} s (start-up ${f3(r.startup.at(-1) ?? NaN)} + filling ${f3(r.filling.at(-1) ?? NaN)})`,
    );
  }
  const pool = median(r.pool);
  console.log();
  table(
    ['case', 'times (s)', 'median (s)', 'raw pool / this'],
    [
      [`raw engine, ${perLoop} in flight (baseline)`, r.pool.map(f2).join(' '), f3(pool), '1.000'],
      [
        `raw engine, batches of ${perLoop}`,
        r.batches.map(f2).join(' '),
        f3(median(r.batches)),
        f3(pool / median(r.batches)),
      ],
      [
        'plancton: start to last pilot running',
        r.total.map(f2).join(' '),
        f3(median(r.total)),
        f3(pool / median(r.total)),
      ],
      ['  of which start-up (to first create)', r.startup.map(f2).join(' '), f3(median(done(r.startup))), ''],
      [
        '  of which filling (first create to last start)',
        r.filling.map(f2).join(' '),
        f3(median(done(r.filling))),
        f3(pool / median(done(r.filling))),
      ],
    ],
  );
  console.log(
    `\nhost CPU busy while the raw engine started its containers (%): ${busyDuringRaw.map((b) => b.toFixed(0)).join(' ')}`,
  );
  const ratio = pool / median(r.total);
  const timedOut = r.filling.filter((x) => Number.isNaN(x)).length;
  console.log(
    `\nRATIO raw/plancton = ${timedOut ? '<= ' : ''}${f3(ratio)} (target >= 0.9: ${ratio >= 0.9 ? 'met' : 'MISSED'})${timedOut ? `; ${timedOut} of ${reps} Plancton fills did not finish within ${opt.timeout} s` : ''}; excluding start-up ${f3(pool / median(done(r.filling)))}`,
  );
});
