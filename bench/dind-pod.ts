/**
 * Interference of the chart's own dind pod: an owner's CPU-bound job next to the busy pilots of
 * the rendered DaemonSet pod, run on the engine as the kubelet would (test/support/helm-pod.ts, as
 * test/e2e/helm-daemonset.test.ts runs it: the Plancton image built from the README, the
 * docker:26-dind stand-in as the sidecar, the chart's ConfigMap, hostPaths and security context).
 *
 * Conditions, in a rotating order for every repetition:
 * - `solo`: the job alone;
 * - `pod`: ci/dind-values.yaml, the chart's default `top-level` placement: the sidecar runs the
 *   chart's dind-cgroups.sh, its pilots land in the node's /<cgroup_parent>, which Plancton keeps
 *   idle through the chart's hostCgroup mount (read back from its status before the job);
 * - `pod-not-idle`: ci/dind-not-idle-values.yaml, `in-pod` placement with `engine.dind.idle`
 *   false: the pilots at the pod's weight, status NOT idle, the kill-based rule (the baseline).
 *
 * Each condition starts its pod, waits for ncpus busy pilots in the sidecar's engine, runs the
 * owner's ncpus shell loops of a fixed length as host processes and removes the pod. Plancton has
 * its defaults (main_sleep 30, cpu_policy owner) apart from the pilots' shape. The sidecar's image
 * store is a node directory per condition where the values render hostPath storage (busybox is
 * loaded into it once), the pod's own otherwise (loaded each time).
 *
 *   node bench/dind-pod.ts [--reps 3] [--loop 3000000] [--cpus-per-dock 0.8] [--settle 2]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { BUSY_LOOP, BenchRun, f3, NCPUS, options, repTable, rotatingReps, sleep, timeJob } from './common.ts';
import { median, MiB } from './host.ts';
import { waitFor } from '../test/support/docker.ts';
import { removeCgroupTree } from '../test/support/host.ts';
import { CHART_DIR } from '../test/support/helm-values.ts';
import { helmTools, renderChart, type K8sObject } from '../test/support/helm-render.ts';
import { runPod, terminatePod, type RunningPod } from '../test/support/helm-pod.ts';
import { dockerExec, ensureImage } from '../test/support/image.ts';
import type { StatusReport } from '../src/report/status.ts';

const opt = options({ reps: '3', loop: '3000000', 'cpus-per-dock': '0.8', settle: '2' });
const reps = Number(opt.reps);
const settleMs = Number(opt.settle) * 1000;
const LOOP = `i=0; while [ $i -lt ${Number(opt.loop)} ]; do i=$((i+1)); done`;
const DIND = { repository: 'docker', tag: '26-dind' };

type Condition = 'solo' | 'pod' | 'pod-not-idle';
const CONDITIONS: readonly Condition[] = ['solo', 'pod', 'pod-not-idle'];
const VALUES: Record<Exclude<Condition, 'solo'>, string> = {
  pod: 'dind-values.yaml',
  'pod-not-idle': 'dind-not-idle-values.yaml',
};

const run = new BenchRun("Interference of the chart's dind pod: an owner job next to its busy pilots");

/** The chart rendered with helm 4 for one condition: its ci values, the pilots' shape, the stand-ins. */
async function render(c: Exclude<Condition, 'solo'>): Promise<K8sObject[]> {
  const dir = mkdtempSync(join(tmpdir(), 'plancton-bench-values-'));
  try {
    const file = join(dir, 'bench-values.yaml');
    writeFileSync(
      file,
      stringify({
        image: { tag: 'latest' },
        engine: { mode: 'dind', dind: { image: DIND } },
        config: {
          max_docks: NCPUS,
          cpus_per_dock: Number(opt['cpus-per-dock']),
          max_dock_mem: 64 * MiB,
          docker_image: 'busybox',
          docker_cmd: BUSY_LOOP,
          docks_per_loop: 4,
          // engine.dind.idle false writes cgroup_parent "" itself
          ...(c === 'pod' ? { cgroup_parent: run.cgroup } : {}),
        },
      }),
    );
    const helm = helmTools().helm.find((h) => h.name === 'helm4');
    if (!helm) throw new Error('no helm: run .ci/setup/helm-tools.sh');
    return (await renderChart(helm.bin, [resolve(CHART_DIR, 'ci', VALUES[c]), file])).objects;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The sidecar engine's socket, once it answers. */
async function sidecar(pod: RunningPod): Promise<string> {
  const socket = `unix://${pod.volumes.get('dind-socket') ?? '?'}/docker.sock`;
  await waitFor(
    'the sidecar engine',
    async () =>
      (await execa('docker', ['--host', socket, 'version'], { reject: false, timeout: 30_000 })).exitCode === 0
        ? true
        : undefined,
    120_000,
    500,
  );
  return socket;
}

const rendered = new Map<Condition, K8sObject[]>();
const nodeDirs = new Map<Condition, string>();

/** The pod of a condition with its pilots running and spinning; how to end it and what it was. */
async function podFor(
  c: Exclude<Condition, 'solo'>,
): Promise<{ end: () => Promise<void>; note: () => Promise<string> }> {
  const node = `bench-${run.id}-${c}`;
  const pod = await runPod(
    rendered.get(c) ?? [],
    node,
    `${node}-${Math.random().toString(36).slice(2, 6)}`,
    {},
    nodeDirs.get(c),
  );
  // as the kubelet ends a pod: SIGTERM, SIGKILL after the grace period (a plain removal can find the
  // sidecar's PID 1 a zombie while its pilots die)
  const end = (): Promise<void> => terminatePod(pod, rendered.get(c) ?? []);
  run.defer(end);
  const socket = await sidecar(pod);
  // stands in for the sidecar's pull from a registry (none is reachable here); hostPath storage keeps it for the next pod
  const cached = await execa('docker', ['--host', socket, 'image', 'inspect', 'busybox:latest'], { reject: false });
  if (cached.exitCode !== 0)
    await execa('bash', ['-c', `docker save busybox:latest | docker --host ${socket} load -q`], { timeout: 180_000 });
  const plancton = pod.containers.get('plancton') ?? '';
  const status = async (): Promise<StatusReport | undefined> => {
    const r = await dockerExec(plancton, ['plancton', 'status', '--json']);
    return r.exitCode === 0 ? (JSON.parse(r.stdout) as StatusReport) : undefined;
  };
  const running = async (): Promise<number> => {
    const r = await execa(
      'docker',
      ['--host', socket, 'ps', '-q', '--filter', `label=org.plancton.instance=${node}`, '--filter', 'status=running'],
      { reject: false, timeout: 60_000 },
    );
    return r.stdout.trim() ? r.stdout.trim().split('\n').length : 0;
  };
  // the kill-based rule (pod-not-idle) may hold pilots back for other load on a shared machine: the
  // job then runs with what runs, and the line says why, from the daemon's own status
  const full = await waitFor(
    `${NCPUS} running pilots (${c})`,
    async () => ((await running()) >= NCPUS ? true : undefined),
    120_000,
    500,
  ).catch(() => false);
  const st = full ? undefined : await status();
  const short = full
    ? ''
    : `; only ${await running()} of ${NCPUS} running (blocked: ${st?.fit?.blocked ?? '?'}, host ${Math.round(st?.host?.cpuBusyPct ?? NaN)}% busy, owner ${Math.round(st?.fit?.ownerBusyPct ?? NaN)}%)`;
  if (c === 'pod' && full)
    await waitFor(
      'status idle, read back',
      async () => ((await status())?.idlePriority?.enabled ? true : undefined),
      60_000,
      1000,
    );
  await sleep(settleMs);
  return {
    end,
    note: async () => {
      const p = (await status())?.idlePriority;
      const logs = await execa('docker', ['logs', plancton], { all: true, reject: false });
      const events = ['pilot-paused', 'pilot-removed'].map(
        (e) => `${e} x${String(logs.all).split(`"event":"${e}"`).length - 1}`,
      );
      return `status ${p?.enabled ? 'idle' : 'NOT idle'} (${(p?.detail ?? '?').slice(0, 90)}); ${events.join(', ')}${short}`;
    },
  };
}

await run.main(async () => {
  await run.header({
    reps,
    loop: Number(opt.loop),
    ownerProcesses: NCPUS,
    cpusPerDock: Number(opt['cpus-per-dock']),
    settleMs,
    dind: `${DIND.repository}:${DIND.tag}`,
  });
  await ensureImage();
  for (const c of ['pod', 'pod-not-idle'] as const) {
    rendered.set(c, await render(c));
    const dir = mkdtempSync(join(tmpdir(), `plancton-bench-node-${c}-`));
    nodeDirs.set(c, dir);
    run.defer(() => rmSync(dir, { recursive: true, force: true }));
  }
  // last: the pilots' top-level groups the pods' engines leave when they go
  run.defer(() => removeCgroupTree(run.cgroup));
  const result = await rotatingReps(CONDITIONS, reps, 'solo', async (c, r) => {
    const pod = c === 'solo' ? undefined : await podFor(c);
    try {
      const t = await timeJob(NCPUS, ['sh', '-c', LOOP]);
      console.log(`rep ${r + 1} ${c.padEnd(12)} ${f3(t)} s  ${pod ? await pod.note() : ''}`);
      return t;
    } finally {
      await pod?.end();
    }
  });
  console.log();
  repTable(CONDITIONS, 'solo', result);
  const { paired } = result;
  const ratio = median(paired.pod);
  console.log(
    `\nRATIO pod/solo = ${f3(ratio)} (target <= 1.05: ${ratio <= 1.05 ? 'met' : 'MISSED'}); pod-not-idle/solo = ${f3(median(paired['pod-not-idle']))} (the NOT-idle baseline)`,
  );
});
