/**
 * Interference in dind mode: how much busy pilots of a Docker engine in a container (the chart's
 * sidecar: Docker 26 in a privileged container, the docker:26-dind stand-in) slow a CPU-bound job
 * of the owner, with Plancton keeping cpu.idle=1 on that container's own cgroup (`dind_idle`)
 * against the NOT-idle baseline (`dind_idle: false`: Plancton as before, the kill-based rule).
 *
 * The owner job is N = ncpus busy shell loops of a fixed length, timed from start to the last
 * exit. `--owner host` (default) runs them as host processes (this process's cgroup, the root's
 * child here); `--owner container` runs them in a container of the host engine, a sibling of the
 * engine's container under /docker. The kernel weighs a group against its siblings only, so the
 * knob on the engine's container yields to the second and not to the first (docs/kubernetes.md).
 *
 * Conditions, interleaved in a rotating order for every repetition: solo; `idle` (Plancton,
 * dind_idle true); `not-idle` (Plancton, dind_idle false); `raw-idle` (the same busy containers
 * started by hand in the engine, cpu.idle=1 set by hand on its cgroup: what the knob alone gives,
 * without Plancton's pausing); `unmanaged` (the same by hand, no knob). Plancton runs with its
 * defaults (main_sleep 30, cpu_policy owner) apart from the pilots' shape, as bench/interference.ts.
 *
 * Then the engine's own work: with the knob the engine itself (dockerd, containerd, shims) runs
 * at idle priority too. With the owner's N loops spinning where --owner says, `--cycles` times
 * one pilot-like container is started (`docker run -d`, to running) and removed (`docker rm -f`)
 * through the engine, knob off and on alternately; printed: the median start and stop times and
 * their ratio on/off (how much slower Plancton starts, pauses and vacates on a busy node).
 *
 *   node bench/dind-interference.ts [--reps 5] [--loop 3000000] [--owner host|container] [--cpus-per-dock 0.8] [--settle 2] [--cycles 5]
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { BUSY_LOOP, BenchRun, f2, f3, NCPUS, options, sleep, table } from './common.ts';
import { median, MiB } from './host.ts';
import { docker, TEST_RUN_LABEL, waitFor } from '../test/support/docker.ts';
import { CGROUP_ROOT } from '../test/support/host.ts';
import { DaemonProcess, pilotsOf } from '../test/support/daemon.ts';
import { DIND_IMAGE, startPrivateEngine, type PrivateEngine } from '../test/support/private-engine.ts';

const opt = options({ reps: '5', loop: '3000000', owner: 'host', 'cpus-per-dock': '0.8', settle: '2', cycles: '5' });
if (opt.owner !== 'host' && opt.owner !== 'container')
  throw new Error(`--owner must be host or container, not ${opt.owner}`);
const reps = Number(opt.reps);
const cpusPerDock = Number(opt['cpus-per-dock']);
const settleMs = Number(opt.settle) * 1000;
const LOOP = `i=0; while [ $i -lt ${Number(opt.loop)} ]; do i=$((i+1)); done`;

type Condition = 'solo' | 'idle' | 'not-idle' | 'raw-idle' | 'unmanaged';
const CONDITIONS: readonly Condition[] = ['solo', 'idle', 'not-idle', 'raw-idle', 'unmanaged'];

const run = new BenchRun('Interference in dind mode: an owner job next to busy pilots of a Docker 26 in a container');
let engine: PrivateEngine | undefined;
const inner = (args: readonly string[]): Promise<string> => {
  if (!engine) throw new Error('no engine yet');
  return engine.inner(args);
};
let engineCpu = '';
let owner = '';

/** The engine container, its cgroup (cpu hierarchy) and, for --owner container, the owner's container. */
async function setUp(): Promise<void> {
  run.defer(() => engine?.remove());
  engine = await startPrivateEngine(`plancton-bench-dind-${run.id}`, run.id);
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
  if (c === 'raw-idle' || c === 'unmanaged') {
    if (c === 'raw-idle') setKnob('1');
    const args = ['--label', `${TEST_RUN_LABEL}=${run.id}`, '--cpus', String(cpusPerDock), '-m', String(64 * MiB)];
    await Promise.all(Array.from({ length: NCPUS }, () => inner(['run', '-d', ...args, 'busybox', ...BUSY_LOOP])));
    await sleep(settleMs);
    return {
      end: async () => {
        const ids = await inner(['ps', '-aq', '--filter', `label=${TEST_RUN_LABEL}=${run.id}`]);
        if (ids) await inner(['rm', '-f', ...ids.split('\n')]);
      },
      note: () => `${NCPUS} raw containers, knob ${knob()}`,
    };
  }
  const instance = `bench-${run.id}-${c}-${Math.random().toString(36).slice(2, 6)}`;
  const yaml = Object.entries({
    instance_id: instance,
    docker_socket: engine?.socket ?? '',
    max_docks: NCPUS,
    cpus_per_dock: cpusPerDock,
    docker_image: 'busybox',
    docker_cmd: BUSY_LOOP,
    max_dock_mem: 64 * MiB,
    docks_per_loop: 4,
    cgroup_parent: run.cgroup,
    dind_idle: c === 'idle',
  })
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join('\n');
  const d = new DaemonProcess(`${yaml}\n`).start({ PLANCTON_LOG_LEVEL: 'info' });
  const stop = async (): Promise<void> => {
    await d.cleanup();
    rmSync(d.dir, { recursive: true, force: true });
    const ids = await inner(['ps', '-aq', '--filter', `label=org.plancton.instance=${instance}`]);
    if (ids) await inner(['rm', '-f', ...ids.split('\n')]);
  };
  run.defer(stop);
  const running = async (): Promise<number> => (await pilotsOf(instance, 'running', { docker: inner })).length;
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
  // the knob is set once a pass has found the pilots (2 s after the first fill)
  if (c === 'idle')
    await waitFor(
      'the knob, read back',
      () => (knob() === '1' && d.status()?.idlePriority?.knob ? true : undefined),
      60_000,
      250,
    );
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

/** Start and stop times of one container through the engine while the owner spins, knob off and on; the on/off ratios. */
async function engineWork(): Promise<{ start: number; stop: number }> {
  // the loops are the spawned processes themselves (no wrapper), so that a kill ends them; in the
  // owner's container they are ended by pkill there (killing `docker exec` would leave them)
  const spin = owner ? ['docker', 'exec', owner, ...BUSY_LOOP] : BUSY_LOOP;
  const spinners = Array.from({ length: NCPUS }, () => execa(spin[0] ?? '', spin.slice(1), { reject: false }));
  const t: Record<'0' | '1', { start: number[]; stop: number[] }> = {
    '0': { start: [], stop: [] },
    '1': { start: [], stop: [] },
  };
  try {
    await sleep(1000);
    for (let i = 0; i < Number(opt.cycles) * 2; i++) {
      const k = i % 2 === 0 ? '0' : '1';
      setKnob(k);
      const t0 = process.hrtime.bigint();
      const id = await inner(['run', '-d', '--label', `${TEST_RUN_LABEL}=${run.id}`, 'busybox', 'sleep', '600']);
      const t1 = process.hrtime.bigint();
      await inner(['rm', '-f', id]);
      const t2 = process.hrtime.bigint();
      t[k].start.push(Number(t1 - t0) / 1e9);
      t[k].stop.push(Number(t2 - t1) / 1e9);
    }
  } finally {
    for (const s of spinners) s.kill('SIGKILL');
    if (owner) await execa('docker', ['exec', owner, 'pkill', 'sh'], { reject: false });
    setKnob('0');
  }
  console.log();
  table(
    ['engine work, owner spinning', 'knob', 'times (s)', 'median (s)'],
    (['0', '1'] as const).flatMap((k) => [
      ['start (docker run -d)', k, t[k].start.map(f2).join(' '), f3(median(t[k].start))],
      ['stop (docker rm -f)', k, t[k].stop.map(f2).join(' '), f3(median(t[k].stop))],
    ]),
  );
  return {
    start: median(t['1'].start) / median(t['0'].start),
    stop: median(t['1'].stop) / median(t['0'].stop),
  };
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
    `engine container cgroup: ${engineCg}; owner: ${owner ? `container ${owner.slice(0, 12)} (a sibling under /docker)` : "host processes (this process's cgroup)"}`,
  );
  const times: Record<Condition, number[]> = { solo: [], idle: [], 'not-idle': [], 'raw-idle': [], unmanaged: [] };
  const paired: Record<Condition, number[]> = { solo: [], idle: [], 'not-idle': [], 'raw-idle': [], unmanaged: [] };
  for (let r = 0; r < reps; r++) {
    const order = CONDITIONS.map((_, i) => CONDITIONS[(i + r) % CONDITIONS.length] as Condition);
    const thisRep: Partial<Record<Condition, number>> = {};
    for (const c of order) {
      const pilots = await pilotsFor(c);
      try {
        const t = await ownerJob();
        thisRep[c] = t;
        times[c].push(t);
        console.log(`rep ${r + 1} ${c.padEnd(9)} ${f3(t)} s  ${pilots.note()}`);
      } finally {
        await pilots.end();
      }
    }
    for (const c of CONDITIONS) paired[c].push((thisRep[c] ?? NaN) / (thisRep.solo ?? NaN));
  }
  setKnob('0');
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
  const engine = await engineWork();
  const ratio = median(paired.idle);
  console.log(
    `\nRATIO idle/solo = ${f3(ratio)} (target <= 1.05: ${ratio <= 1.05 ? 'met' : 'MISSED'}); not-idle/solo = ${f3(median(paired['not-idle']))} (the NOT-idle baseline); raw-idle/solo = ${f3(median(paired['raw-idle']))} (the knob alone); unmanaged/solo = ${f3(median(paired.unmanaged))}; owner: ${opt.owner}; engine start with the knob / without = ${f3(engine.start)}, stop = ${f3(engine.stop)}`,
  );
});
