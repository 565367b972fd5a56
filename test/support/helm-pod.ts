/**
 * Runs a rendered DaemonSet's pod on the Docker engine the way the kubelet would, for the
 * tests (no kubelet or cluster can be had here): every container with its image, command, args,
 * env (fieldRef spec.nodeName, secretKeyRef from the rendered Secret), security context and
 * volume mounts; the ConfigMap as files in a read-only directory; emptyDir as a directory of
 * the pod shared by its containers; hostPath as the node's path. All containers join one
 * network namespace (the pod's, held by a busybox stand-in for the pause container).
 *
 * What differs from a kubelet, and why: hostPaths other than the node's /proc, /sys/fs/cgroup
 * and the Docker socket (the run dir, the dind storage) are put under the pod's own temporary
 * directory, or under a directory of the test's that stands for the node's root (`nodeDir`), so
 * a test leaves nothing on the machine; no cgroup limits from `resources` are
 * applied (the kubelet would set them on the pod's cgroup); probes are run by the test itself.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { docker, removeContainers, TEST_RUN_LABEL } from './docker.ts';
import { one, podSpec, type Container, type K8sObject } from './helm-render.ts';

/** Node paths the pod mounts as they are: what a kubelet's node gives the pod. */
const NODE_PATHS = ['/proc', '/sys/fs/cgroup', '/var/run/docker.sock', '/run/docker.sock'];

export interface RunningPod {
  /** Container name of each pod container, by its name in the pod spec. */
  readonly containers: ReadonlyMap<string, string>;
  /** The host directory of each emptyDir / remapped hostPath volume, by volume name. */
  readonly volumes: ReadonlyMap<string, string>;
  readonly dir: string;
  /** Removes every container of the pod and its directory. */
  remove(): Promise<void>;
}

/** The `docker run` words of one pod container (before the image). */
function containerArgs(
  c: Container,
  env: Record<string, string>,
  mounts: string[],
  podNet: string,
  name: string,
  label: string,
): string[] {
  const args = [
    'run',
    '-d',
    '--name',
    name,
    '--label',
    `${TEST_RUN_LABEL}=${label}`,
    '--network',
    `container:${podNet}`,
  ];
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  for (const m of mounts) args.push('-v', m);
  const sc = c.securityContext ?? {};
  if (sc.privileged) args.push('--privileged');
  if (sc.readOnlyRootFilesystem) args.push('--read-only');
  if (sc.runAsUser !== undefined) args.push('--user', String(sc.runAsUser));
  for (const cap of sc.capabilities?.add ?? []) args.push('--cap-add', cap);
  for (const cap of sc.capabilities?.drop ?? []) args.push('--cap-drop', cap);
  if (c.command?.length) args.push('--entrypoint', c.command[0] ?? '');
  return args;
}

/**
 * Starts the pod of `objects` (a `helm template` output) as node `nodeName`; `images` maps a
 * rendered image to the local one to run instead (none by default: the rendered ones run).
 * `nodeDir` stands for the node's root for the remapped hostPaths (`<nodeDir><path>`), so that
 * a pod replaced on the same node finds what the one before it left there; without it they are
 * the pod's own, like its emptyDirs.
 */
export async function runPod(
  objects: readonly K8sObject[],
  nodeName: string,
  label: string,
  images: Record<string, string> = {},
  nodeDir?: string,
): Promise<RunningPod> {
  const spec = podSpec(objects);
  const dir = mkdtempSync(join(tmpdir(), 'plancton-pod-'));
  const volumes = new Map<string, string>();
  const containers = new Map<string, string>();
  const configMap = one(objects, 'ConfigMap') as K8sObject & { data: Record<string, string> };
  const secret: (K8sObject & { data?: Record<string, string> }) | undefined = objects.find((o) => o.kind === 'Secret');
  const podNet = `${label}-pause`;
  const remove = async (): Promise<void> => {
    const ids = await docker(['ps', '-aq', '--filter', `label=${TEST_RUN_LABEL}=${label}`]);
    if (ids) await removeContainers(ids.split('\n'));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const v of spec.volumes) {
      if (v.configMap) {
        if (v.configMap.name !== configMap.metadata.name)
          throw new Error(`volume ${v.name}: ConfigMap ${v.configMap.name} not rendered`);
        const d = join(dir, 'configmaps', v.name);
        mkdirSync(d, { recursive: true });
        for (const [file, text] of Object.entries(configMap.data)) writeFileSync(join(d, file), text);
        volumes.set(v.name, d);
      } else if (v.hostPath && NODE_PATHS.includes(v.hostPath.path)) {
        volumes.set(v.name, v.hostPath.path);
      } else if (v.hostPath || v.emptyDir) {
        const d = v.hostPath && nodeDir !== undefined ? join(nodeDir, v.hostPath.path) : join(dir, 'volumes', v.name);
        mkdirSync(d, { recursive: true });
        volumes.set(v.name, d);
      } else throw new Error(`volume ${v.name}: a kind the runner does not know`);
    }
    await docker([
      'run',
      '-d',
      '--name',
      podNet,
      '--label',
      `${TEST_RUN_LABEL}=${label}`,
      '--hostname',
      `${label}-pod`,
      'busybox:latest',
      'sleep',
      '86400',
    ]);
    for (const c of spec.containers) {
      const env: Record<string, string> = {};
      for (const e of c.env ?? []) {
        if (e.value !== undefined) env[e.name] = e.value;
        else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env[e.name] = nodeName;
        else if (e.valueFrom?.secretKeyRef) {
          const ref = e.valueFrom.secretKeyRef;
          const b64 = secret?.metadata.name === ref.name ? secret.data?.[ref.key] : undefined;
          if (b64 !== undefined) env[e.name] = Buffer.from(b64, 'base64').toString('utf8');
          else if (!ref.optional) throw new Error(`env ${e.name}: Secret ${ref.name} key ${ref.key} not rendered`);
        } else throw new Error(`env ${e.name}: a source the runner does not know`);
      }
      const mounts = (c.volumeMounts ?? []).map((m) => {
        const host = volumes.get(m.name);
        if (host === undefined) throw new Error(`mount ${m.mountPath}: no volume ${m.name}`);
        return `${host}:${m.mountPath}${m.readOnly ? ':ro' : ''}`;
      });
      const name = `${label}-${c.name}`;
      const image = images[c.image] ?? c.image;
      await docker([
        ...containerArgs(c, env, mounts, podNet, name, label),
        image,
        ...(c.command?.slice(1) ?? []),
        ...(c.args ?? []),
      ]);
      containers.set(c.name, name);
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { containers, volumes, dir, remove };
}

/** What the kubelet does to a pod it replaces: SIGTERM to each container, SIGKILL after the grace period; then the pod is gone. */
export async function terminatePod(pod: RunningPod, objects: readonly unknown[]): Promise<void> {
  const grace = (
    objects as Array<{ kind?: string; spec?: { template?: { spec?: { terminationGracePeriodSeconds?: number } } } }>
  ).find((o) => o.kind === 'DaemonSet')?.spec?.template?.spec?.terminationGracePeriodSeconds;
  if (grace === undefined) throw new Error('terminationGracePeriodSeconds is not rendered');
  for (const name of pod.containers.values())
    await execa('docker', ['stop', '-t', String(grace), name], { reject: false, timeout: (grace + 60) * 1000 });
  await pod.remove();
}
