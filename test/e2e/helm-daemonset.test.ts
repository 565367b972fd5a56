/**
 * The Helm chart's DaemonSet pod, rendered by the real helm 4 (helm 3 renders the same pod), run
 * on the engine as the kubelet would run it (test/support/helm-pod.ts): same images, args, env,
 * mounts, the ConfigMap as a file. host-socket mode drives the host engine; dind mode runs the
 * rendered sidecar (the trixie docker.io stand-in for the upstream dind image, docker26.sh) through
 * the chart's dind-cgroups.sh (placement top-level) and fills with pilots inside the sidecar's
 * engine, whose cgroups are the node's top-level /<cgroup_parent>, idle. No cluster runs here (see
 * the chart README).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { docker, removeContainers, waitFor } from '../support/docker.ts';
import type { StatusReport } from '../../src/report/status.ts';
import { removeCgroupTree } from '../support/host.ts';
import { CHART_DIR } from '../support/helm-values.ts';
import { helmTools, podSpec, renderChart } from '../support/helm-render.ts';
import { runPod, terminatePod, type RunningPod } from '../support/helm-pod.ts';
import {
  NODE_IMAGE,
  PILOT_IMAGE,
  dockerExec,
  ensureImage,
  randomSuffix,
  requireImages,
  statusIn,
} from '../support/image.ts';

const DIND_IMAGE = 'docker:26-dind';
const skip = await requireImages(NODE_IMAGE, PILOT_IMAGE, DIND_IMAGE);
const CI_DIR = resolve(CHART_DIR, 'ci');

/** Test-speed settings over a ci/*-values.yaml: the README-built image, two tiny busybox pilots, 1 s passes. */
function overrides(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { config, ...rest } = extra;
  return {
    image: { tag: 'latest' },
    config: {
      max_docks: 2,
      cpus_per_dock: 0.05,
      max_dock_mem: 64 * 1024 * 1024,
      docker_image: 'busybox',
      docker_cmd: 'sleep 600',
      main_sleep: 1,
      updateconfig: 1,
      pull_retry: 2,
      grace_spawn: 0,
      no_work_uptime: 0,
      stop_timeout: 1,
      log_level: 'debug',
      ...(config as Record<string, unknown> | undefined),
    },
    ...rest,
  };
}

async function render(ciFile: string, extra: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'plancton-helm-values-'));
  try {
    const file = join(dir, 'test-values.yaml');
    writeFileSync(file, stringify(overrides(extra)));
    const files = [resolve(CI_DIR, ciFile), file];
    const [h3, h4] = helmTools().helm;
    const rendered = await renderChart(h4?.bin ?? '', files);
    const other = await renderChart(h3?.bin ?? '', files);
    assert.deepEqual(podSpec(other.objects), podSpec(rendered.objects), 'helm 3 and helm 4 render different pods');
    return rendered.objects;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Ids of the running containers of Plancton instance `instance` on the engine `host` (default: the host engine). */
async function running(instance: string, host?: string): Promise<string[]> {
  const r = await execa(
    'docker',
    [
      ...(host ? ['--host', host] : []),
      'ps',
      '-q',
      '--filter',
      `label=org.plancton.instance=${instance}`,
      '--filter',
      'status=running',
    ],
    { reject: false, timeout: 60_000 },
  );
  return r.exitCode === 0 && r.stdout.trim() !== '' ? r.stdout.trim().split('\n') : [];
}

/** `docker inspect` of each container: state and start time, to tell one left alone from one restarted or gone. */
async function startTimes(ids: readonly string[], host?: string): Promise<string[]> {
  return Promise.all(
    ids.map(async (id) => {
      const r = await execa(
        'docker',
        [...(host ? ['--host', host] : []), 'inspect', '-f', '{{.State.Status}} {{.State.StartedAt}}', id],
        { reject: false, timeout: 60_000 },
      );
      return r.exitCode === 0 ? r.stdout.trim() : 'gone';
    }),
  );
}

describe("the chart's DaemonSet pod, run on the engine as the kubelet would", { skip, timeout: 15 * 60_000 }, () => {
  before(async () => {
    await ensureImage();
  });

  describe("host-socket mode (ci/chart-secret-values.yaml: credentials in the chart's Secret)", () => {
    const node = `helm-node-${randomSuffix()}`;
    let pod: RunningPod | undefined;
    let objects: Awaited<ReturnType<typeof render>> = [];

    after(async () => {
      await pod?.remove();
      const left = await docker(['ps', '-aq', '--filter', `label=org.plancton.instance=${node}`]);
      if (left) await removeContainers(left.split('\n'));
    });

    it("fills the host engine with pilots of the node's instance; the probe passes; no credential in the logs", async () => {
      objects = await render('chart-secret-values.yaml');
      pod = await runPod(objects, node, `plancton-helm-${randomSuffix()}`);
      const plancton = pod.containers.get('plancton') ?? '';
      const pilots = await waitFor(
        '2 running pilots',
        async () => {
          const ids = await running(node);
          return ids.length === 2 ? ids : undefined;
        },
        120_000,
        500,
      );
      for (const id of pilots) {
        const labels = JSON.parse(await docker(['inspect', '-f', '{{json .Config.Labels}}', id])) as Record<
          string,
          string
        >;
        assert.equal(
          labels['org.plancton.instance'],
          node,
          'the instance is the node name (PLANCTON_HOSTNAME from spec.nodeName)',
        );
      }
      // the liveness probe, as the kubelet runs it
      const probe = await waitFor(
        'the liveness probe to pass',
        async () => ((await dockerExec(plancton, ['plancton', 'health'])).exitCode === 0 ? true : undefined),
        60_000,
        1000,
      );
      assert.equal(probe, true);
      const status = JSON.parse((await dockerExec(plancton, ['plancton', 'status', '--json'])).stdout) as {
        pilots?: unknown[];
      };
      assert.ok(status.pilots === undefined || Array.isArray(status.pilots));
      // the credentials reached Plancton (the InfluxDB hosts do not resolve here) and are not logged
      const env = (await dockerExec(plancton, ['printenv', 'PLANCTON_INFLUXDB_PASSWORD'])).stdout;
      assert.equal(env, 's3cret,with:odd@chars');
      const token = (await dockerExec(plancton, ['printenv', 'PLANCTON_METRICS_TOKEN'])).stdout;
      assert.equal(token, 'chart-secret-metrics-token-0123456789');
      const logs = await execa('docker', ['logs', plancton], { reject: false, all: true });
      const text = String(logs.all);
      assert.match(text, /"message":"iteration"/);
      for (const secret of ['s3cret', 'plancton:pw@', ':pw@', token])
        assert.ok(!text.includes(secret), `the log shows ${secret}`);
    });

    it('a replaced pod (SIGTERM, on_stop keep) leaves the pilots running; the new pod, same node, adopts them and starts none', async () => {
      assert.ok(pod, 'the pod of the test before');
      const pilots = (await running(node)).sort();
      assert.equal(pilots.length, 2);
      const before = await startTimes(pilots);
      await terminatePod(pod, objects);
      pod = undefined;
      assert.deepEqual(await startTimes(pilots), before, 'the pilots run on without their Plancton');
      pod = await runPod(objects, node, `plancton-helm-${randomSuffix()}`);
      const plancton = pod.containers.get('plancton') ?? '';
      const status = await waitFor(
        "three passes of the new pod's Plancton",
        async () => {
          const s = await statusIn(plancton).catch(() => undefined);
          return s && s.iterations >= 3 ? s : undefined;
        },
        120_000,
        1000,
      );
      assert.deepEqual(
        status.pilots.map((p) => p.id.slice(0, 12)).sort(),
        pilots,
        'the new Plancton counts the old pilots as its own (same instance id: the node name)',
      );
      assert.deepEqual((await running(node)).sort(), pilots, 'no pilot started beside them');
      assert.deepEqual(await startTimes(pilots), before, 'nor any restarted');
    });
  });

  describe('dind mode (ci/dind-values.yaml, the rendered sidecar with the Docker 26 stand-in, placement top-level)', () => {
    const node = `helm-node-${randomSuffix()}`;
    // the pilots' top-level cgroup, this run's own (the node's /plancton serves other tests)
    const cgParent = `plancton-helm-${randomSuffix()}`;
    // the node's root for the pod's hostPaths (the dind storage, the run dir), kept across pods
    const nodeDir = mkdtempSync(join(tmpdir(), 'plancton-helm-node-'));
    let pod: RunningPod | undefined;
    let objects: Awaited<ReturnType<typeof render>> = [];
    let pilots: string[] = [];

    after(async () => {
      await pod?.remove();
      rmSync(nodeDir, { recursive: true, force: true });
      removeCgroupTree(cgParent);
    });

    /** The socket of the pod's sidecar engine, once it answers. */
    async function sidecarEngine(p: RunningPod): Promise<string> {
      const socketDir = p.volumes.get('dind-socket');
      assert.ok(socketDir, 'no dind-socket volume');
      const inner = `unix://${socketDir}/docker.sock`;
      const version = await waitFor(
        'the sidecar engine',
        async () => {
          const r = await execa('docker', ['--host', inner, 'version', '--format', '{{.Server.Version}}'], {
            reject: false,
            timeout: 30_000,
          });
          return r.exitCode === 0 ? r.stdout.trim() : undefined;
        },
        120_000,
        500,
      );
      assert.match(version, /^26\./);
      return inner;
    }

    it("fills the sidecar's own engine with pilots; none land on the host engine", async () => {
      objects = await render('dind-values.yaml', {
        engine: { mode: 'dind', dind: { image: { repository: 'docker', tag: '26-dind' } } },
        config: { cgroup_parent: cgParent },
      });
      pod = await runPod(objects, node, `plancton-helm-${randomSuffix()}`, {}, nodeDir);
      const inner = await sidecarEngine(pod);
      // stands in for the pull from a registry the sidecar would do (none is reachable here)
      await execa('bash', ['-c', `docker save busybox:latest | docker --host ${inner} load -q`], { timeout: 180_000 });
      pilots = await waitFor(
        '2 running pilots in the sidecar engine',
        async () => {
          const ids = await running(node, inner);
          return ids.length === 2 ? ids : undefined;
        },
        180_000,
        500,
      );
      assert.equal(pilots.length, 2);
      assert.deepEqual(await running(node), [], 'pilots on the host engine');
      // the rendered sidecar ran the chart's script, and its engine put the pilots in the node's
      // top-level /<cgroup_parent>: outside the sidecar's cgroup (and so outside the pod's)
      const sidecarLog = await execa('docker', ['logs', pod.containers.get('dind') ?? ''], {
        all: true,
        reject: false,
      });
      assert.match(String(sidecarLog.all), /dind-cgroups\.sh: cgroup v1: \d+ hierarchies of the node from their roots/);
      for (const id of pilots) {
        const r = await execa('bash', ['-c', `grep -h -- ':cpu:.*${id}' /proc/[0-9]*/cgroup 2>/dev/null | head -n 1`], {
          reject: false,
        });
        assert.match(
          String(r.stdout).trim(),
          new RegExp(`^1:cpu:/${cgParent}/${id}[0-9a-f]{52}$`),
          `pilot ${id}'s cpu cgroup`,
        );
      }
      const plancton = pod.containers.get('plancton') ?? '';
      await waitFor(
        'the liveness probe to pass',
        async () => ((await dockerExec(plancton, ['plancton', 'health'])).exitCode === 0 ? true : undefined),
        60_000,
        1000,
      );
      const sidecarProbe = await dockerExec(pod.containers.get('dind') ?? '', [
        'docker',
        `--host=unix:///run/plancton-dind/docker.sock`,
        'version',
      ]);
      assert.equal(sidecarProbe.exitCode, 0, sidecarProbe.stderr);
      // Plancton made /<cgroup_parent> idle through the chart's hostCgroup mount, and reads it back
      const knob = await waitFor(
        "the idle knob on the pilots' top-level cgroup, read back",
        async () => {
          const r = await dockerExec(plancton, ['plancton', 'status', '--json']);
          const p = (JSON.parse(r.stdout) as StatusReport).idlePriority;
          return p?.enabled && p.knob ? p.knob : undefined;
        },
        60_000,
        1000,
      );
      assert.deepEqual(knob, { cgroup: `/${cgParent}`, setting: 'cpu.idle=1', role: 'parent', parents: [] });
      assert.equal(readFileSync(`/sys/fs/cgroup/cpu/${cgParent}/cpu.idle`, 'utf8').trim(), '1');
    });

    it('a replaced pod: its pilots end with its engine; with hostPath storage the next pod has the image cached, and its Plancton clears the dead pilots and starts new ones', async () => {
      assert.ok(pod, 'the pod of the test before');
      await terminatePod(pod, objects);
      pod = undefined;
      for (const id of pilots) {
        const r = await execa('bash', ['-c', `grep -l -- '${id}' /proc/[0-9]*/cgroup 2>/dev/null | head -n 1`], {
          reject: false,
        });
        assert.equal(String(r.stdout).trim(), '', `a process of pilot ${id} outlived its pod`);
      }
      pod = await runPod(objects, node, `plancton-helm-${randomSuffix()}`, {}, nodeDir);
      const inner = await sidecarEngine(pod);
      // no `docker load` this time: the image is still in the node's storage directory
      const image = await execa('docker', ['--host', inner, 'image', 'inspect', '-f', '{{.Id}}', 'busybox:latest'], {
        reject: false,
      });
      assert.equal(image.exitCode, 0, `the image cache did not survive the pod: ${image.stderr}`);
      const fresh = await waitFor(
        "2 new running pilots, and none of the old pod's left",
        async () => {
          const ids = await running(node, inner);
          const old = await startTimes(pilots, inner);
          return ids.length === 2 && old.every((s) => s === 'gone') ? ids : undefined;
        },
        180_000,
        500,
      );
      assert.deepEqual(
        fresh.filter((id) => pilots.includes(id)),
        [],
        'the old pilots were not restarted',
      );
      for (const id of pilots)
        assert.ok(!existsSync(`/sys/fs/cgroup/cpu/${cgParent}/${id}`), `the old pilot ${id}'s cgroup is left`);
    });
  });
});
