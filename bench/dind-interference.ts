/**
 * Interference in dind mode: how much busy pilots of a Docker engine in a container (the chart's
 * sidecar: Docker 26 in a privileged container, the docker:26-dind stand-in) slow a CPU-bound job
 * of the owner, in the chart's two placements, against the NOT-idle baseline in the same run.
 *
 * Two private engines: one started as the chart's sidecar in its default `top-level` placement
 * (through helm/plancton/files/dind-cgroups.sh: it sees the host's cgroup root and puts the pilots
 * in the host's /<parent>, which Plancton makes idle as with a host socket), one `in-pod` (the
 * pilots' parent inside the engine container's cgroup; `dind_idle` keeps cpu.idle=1 on that
 * container, which yields to its siblings only).
 *
 * The owner job is N = ncpus busy shell loops of a fixed length, timed from start to the last
 * exit. `--owner host` (default) runs them as host processes (this process's cgroup, the root
 * here); `--owner container` runs them in a container of the host engine, a sibling of the
 * engines' containers under /docker.
 *
 * Conditions, interleaved in a rotating order for every repetition: solo; `top-level` (Plancton on
 * the top-level engine); `in-pod` (Plancton on the in-pod engine, dind_idle true: status NOT idle
 * at the host's top level, the kill-based rule); `not-idle` (in-pod, dind_idle false); `raw-top`
 * (the same busy containers started by hand on the top-level engine under an idle top-level
 * parent made by hand: the placement alone, without Plancton's pausing); `raw-idle` (by hand on the
 * in-pod engine, cpu.idle=1 by hand on its container: the knob alone); `unmanaged` (by hand, in-pod,
 * no knob). Plancton runs with its defaults (main_sleep 30, cpu_policy owner) apart from the
 * pilots' shape, as bench/interference.ts.
 *
 * Then the engines' own work with the owner's N loops spinning where --owner says: `--cycles`
 * times, in turn, one pilot-like container is started (`docker run -d`, to running) and removed
 * (`docker rm -f`) through the in-pod engine with its knob off, with it on (its dockerd,
 * containerd and shims idle too), and through the top-level engine (at normal weight, the
 * container under an idle top-level parent): how fast Plancton starts, pauses and vacates pilots
 * on a busy node.
 *
 *   node bench/dind-interference.ts [--reps 3] [--loop 3000000] [--owner host|container] [--cpus-per-dock 0.8] [--settle 2] [--cycles 5]
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { BUSY_LOOP, BenchRun, f2, f3, NCPUS, options, repTable, rotatingReps, sleep, table } from './common.ts';
import { median, MiB } from './host.ts';
import { docker, TEST_RUN_LABEL, waitFor } from '../test/support/docker.ts';
import { CGROUP_ROOT, removeCgroupTree } from '../test/support/host.ts';
import { DaemonProcess, pilotsOf } from '../test/support/daemon.ts';
import { DIND_IMAGE, startPrivateEngine, type PrivateEngine } from '../test/support/private-engine.ts';

const opt = options({ reps: '3', loop: '3000000', owner: 'host', 'cpus-per-dock': '0.8', settle: '2', cycles: '5' });
if (opt.owner !== 'host' && opt.owner !== 'container')
  throw new Error(`--owner must be host or container, not ${opt.owner}`);
const reps = Number(opt.reps);
const cpusPerDock = Number(opt['cpus-per-dock']);
const settleMs = Number(opt.settle) * 1000;
const LOOP = `i=0; while [ $i -lt ${Number(opt.loop)} ]; do i=$((i+1)); done`;

type Condition = 'solo' | 'top-level' | 'in-pod' | 'not-idle' | 'raw-top' | 'raw-idle' | 'unmanaged';
const CONDITIONS: readonly Condition[] = [
  'solo',
  'top-level',
  'in-pod',
  'not-idle',
  'raw-top',
  'raw-idle',
  'unmanaged',
];

const run = new BenchRun('Interference in dind mode: an owner job next to busy pilots of a Docker 26 in a container');
let engine: PrivateEngine | undefined;
let engineTop: PrivateEngine | undefined;
/** `docker …` on the in-pod engine, or with `top` the top-level one. */
const inner = (args: readonly string[], top = false): Promise<string> => {
  const e = top ? engineTop : engine;
  if (!e) throw new Error('no engine yet');
  return e.inner(args);
};
let engineCpu = '';
let owner = '';
/** `--cgroup-parent` of an idle top-level parent made by hand (raw-top). */
let rawTop: string[] = [];

/** The engines' containers, the in-pod one's cgroup (cpu hierarchy) and, for --owner container, the owner's container. */
async function setUp(): Promise<void> {
  // last: the pilots' top-level cgroups the engines' removal would leave (their containers are removed first)
  run.defer(() => {
    removeCgroupTree(run.cgroup);
    removeCgroupTree(`${run.cgroup}-raw`);
  });
  run.defer(() => engine?.remove());
  run.defer(() => engineTop?.remove());
  engine = await startPrivateEngine(`plancton-bench-dind-${run.id}`, run.id);
  engineTop = await startPrivateEngine(`plancton-bench-dindtop-${run.id}`, run.id, { topLevel: true });
  rawTop = run.idleParent();
  engineCpu = join(CGROUP_ROOT, 'cpu', engine.cpuCgroup);
  if (opt.owner === 'container')
    owner = await docker(['run', '-d', '--label', `${TEST_RUN_LABEL}=${run.id}`, 'busybox', 'sleep', '86400']);
}

/** The owner's N loops, wall time to the last exit (s). */
async function ownerJob(): Promise<number> {
  const t0 = process.hrtime.bigint();
  const cmd = owner ? ['docker', 'exec', owner, 'sh', '-c', LOOP] : ['sh', '-c', LOOP];
  const rs = await Promise.all(
    Array.from({ length: NCPUS }, () => execa(cmd[0] ?? '', cmd.slice(1), { reject: false })),
  );
  const bad = rs.find((r) => r.exitCode !== 0);
  if (bad) throw new Error(`owner job failed: ${bad.shortMessage ?? ''}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const setKnob = (v: '0' | '1'): void => writeFileSync(join(engineCpu, 'cpu.idle'), `${v}\n`);

/** Pilots for one condition, running and spinning; returns how to end them and what they were. */
async function pilotsFor(c: Condition): Promise<{ end: () => Promise<void>; note: () => string }> {
  setKnob('0');
  if (c === 'solo') return { end: () => Promise.resolve(), note: () => `knob ${knob()}` };
  if (c === 'raw-idle' || c === 'unmanaged' || c === 'raw-top') {
    if (c === 'raw-idle') setKnob('1');
    const top = c === 'raw-top';
    const args = ['--label', `${TEST_RUN_LABEL}=${run.id}`, '--cpus', String(cpusPerDock), '-m', String(64 * MiB)];
    if (top) args.push(...rawTop);
    await Promise.all(Array.from({ length: NCPUS }, () => inner(['run', '-d', ...args, 'busybox', ...BUSY_LOOP], top)));
    await sleep(settleMs);
    return {
      end: async () => {
        const ids = await inner(['ps', '-aq', '--filter', `label=${TEST_RUN_LABEL}=${run.id}`], top);
        if (ids) await inner(['rm', '-f', ...ids.split('\n')], top);
      },
      note: () =>
        top ? `${NCPUS} raw containers under ${rawTop[1] ?? '?'}` : `${NCPUS} raw containers, knob ${knob()}`,
    };
  }
  const top = c === 'top-level';
  const on = (args: readonly string[]): Promise<string> => inner(args, top);
  const instance = `bench-${run.id}-${c}-${Math.random().toString(36).slice(2, 6)}`;
  const yaml = Object.entries({
    instance_id: instance,
    docker_socket: (top ? engineTop : engine)?.socket ?? '',
    max_docks: NCPUS,
    cpus_per_dock: cpusPerDock,
    docker_image: 'busybox',
    docker_cmd: BUSY_LOOP,
    max_dock_mem: 64 * MiB,
    docks_per_loop: 4,
    cgroup_parent: run.cgroup,
    dind_idle: c === 'in-pod',
  })
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join('\n');
  const d = new DaemonProcess(`${yaml}\n`).start({ PLANCTON_LOG_LEVEL: 'info' });
  const stop = async (): Promise<void> => {
    await d.cleanup();
    rmSync(d.dir, { recursive: true, force: true });
    const ids = await on(['ps', '-aq', '--filter', `label=org.plancton.instance=${instance}`]);
    if (ids) await on(['rm', '-f', ...ids.split('\n')]);
  };
  run.defer(stop);
  const running = async (): Promise<number> => (await pilotsOf(instance, 'running', { docker: on })).length;
  // the kill-based rule (not-idle) may pause a pilot for other jobs' load on a shared machine, and
  // then starts none: the job runs with what runs, and the line says why, from the daemon's decision
  const full = await waitFor(
    `${NCPUS} pilots (${c})`,
    async () => ((await running()) >= NCPUS ? true : undefined),
    45_000,
    250,
  ).catch(() => false);
  const short = full
    ? ''
    : `; only ${await running()} of ${NCPUS} running (blocked: ${d.status()?.fit?.blocked ?? '?'})`;
  // the knob is set once a pass has found the pilots (2 s after the first fill), and read back
  if (c === 'in-pod' && full)
    await waitFor(
      'the knob, read back (NOT idle at the top level)',
      () =>
        knob() === '1' && /NOT idle at the host's top level/.test(d.status()?.idlePriority?.detail ?? '')
          ? true
          : undefined,
      60_000,
      250,
    );
  if (top && full)
    await waitFor('status idle, read back', () => (d.status()?.idlePriority?.enabled ? true : undefined), 60_000, 250);
  await sleep(settleMs);
  return {
    end: stop,
    note: () => {
      const events = ['pilot-paused', 'pilot-removed'].map((e) => `${e} x${d.log.split(`"event":"${e}"`).length - 1}`);
      const p = d.status()?.idlePriority;
      return `knob ${knob()}, status ${p?.enabled ? 'idle' : 'NOT idle'}; ${events.join(', ')}${short}`;
    },
  };
}

/** How the engine work is timed: the in-pod engine with its knob off or on, or the top-level engine. */
type Work = 'in-pod, knob 0' | 'in-pod, knob 1 (dind_idle)' | 'top-level';
const WORKS: readonly Work[] = ['in-pod, knob 0', 'in-pod, knob 1 (dind_idle)', 'top-level'];

/** Start and stop times of one container through each engine while the owner spins; the ratios to in-pod knob 0. */
async function engineWork(): Promise<Record<Work, { start: number; stop: number }>> {
  // the loops are the spawned processes themselves (no wrapper), so that a kill ends them; in the
  // owner's container they are ended by pkill there (killing `docker exec` would leave them)
  const spin = owner ? ['docker', 'exec', owner, ...BUSY_LOOP] : BUSY_LOOP;
  const spinners = Array.from({ length: NCPUS }, () => execa(spin[0] ?? '', spin.slice(1), { reject: false }));
  const t = Object.fromEntries(WORKS.map((w) => [w, { start: [] as number[], stop: [] as number[] }])) as Record<
    Work,
    { start: number[]; stop: number[] }
  >;
  try {
    await sleep(1000);
    for (let i = 0; i < Number(opt.cycles) * WORKS.length; i++) {
      const w = WORKS[i % WORKS.length] as Work;
      const top = w === 'top-level';
      setKnob(w === 'in-pod, knob 1 (dind_idle)' ? '1' : '0');
      const args = ['run', '-d', '--label', `${TEST_RUN_LABEL}=${run.id}`, ...(top ? rawTop : [])];
      const t0 = process.hrtime.bigint();
      const id = await inner([...args, 'busybox', 'sleep', '600'], top);
      const t1 = process.hrtime.bigint();
      await inner(['rm', '-f', id], top);
      const t2 = process.hrtime.bigint();
      t[w].start.push(Number(t1 - t0) / 1e9);
      t[w].stop.push(Number(t2 - t1) / 1e9);
    }
  } finally {
    for (const s of spinners) s.kill('SIGKILL');
    if (owner) await execa('docker', ['exec', owner, 'pkill', 'sh'], { reject: false });
    setKnob('0');
  }
  console.log();
  table(
    ['engine work, owner spinning', 'engine', 'times (s)', 'median (s)'],
    WORKS.flatMap((w) => [
      ['start (docker run -d)', w, t[w].start.map(f2).join(' '), f3(median(t[w].start))],
      ['stop (docker rm -f)', w, t[w].stop.map(f2).join(' '), f3(median(t[w].stop))],
    ]),
  );
  const base = t['in-pod, knob 0'];
  return Object.fromEntries(
    WORKS.map((w) => [
      w,
      { start: median(t[w].start) / median(base.start), stop: median(t[w].stop) / median(base.stop) },
    ]),
  ) as Record<Work, { start: number; stop: number }>;
}

const knob = (): string => readFileSync(join(engineCpu, 'cpu.idle'), 'utf8').trim();

await run.main(async () => {
  await run.header({
    reps,
    loop: Number(opt.loop),
    owner: opt.owner,
    ownerProcesses: NCPUS,
    cpusPerDock,
    settleMs,
    image: DIND_IMAGE,
  });
  await setUp();
  const engineCg = engineCpu.slice(join(CGROUP_ROOT, 'cpu').length);
  console.log(
    `in-pod engine container cgroup: ${engineCg}; top-level engine container cgroup: ${engineTop?.cpuCgroup ?? '?'}, its pilots under /${run.cgroup}; owner: ${owner ? `container ${owner.slice(0, 12)} (a sibling under /docker)` : "host processes (this process's cgroup)"}`,
  );
  const result = await rotatingReps(CONDITIONS, reps, 'solo', async (c, r) => {
    const pilots = await pilotsFor(c);
    try {
      const t = await ownerJob();
      console.log(`rep ${r + 1} ${c.padEnd(9)} ${f3(t)} s  ${pilots.note()}`);
      return t;
    } finally {
      await pilots.end();
    }
  });
  setKnob('0');
  console.log();
  repTable(CONDITIONS, 'solo', result);
  const { paired } = result;
  const work = await engineWork();
  const ratio = median(paired['top-level']);
  const r = (c: Condition): string => f3(median(paired[c]));
  console.log(
    `\nRATIO top-level/solo = ${f3(ratio)} (target <= 1.05: ${ratio <= 1.05 ? 'met' : 'MISSED'}); in-pod/solo = ${r('in-pod')}; not-idle/solo = ${r('not-idle')} (the NOT-idle baseline); raw-top/solo = ${r('raw-top')} (the placement alone); raw-idle/solo = ${r('raw-idle')} (the in-pod knob alone); unmanaged/solo = ${r('unmanaged')}; owner: ${opt.owner}; engine work against in-pod knob 0: ${WORKS.slice(
      1,
    )
      .map((w) => `${w} start ${f3(work[w].start)}x, stop ${f3(work[w].stop)}x`)
      .join('; ')}`,
  );
});
