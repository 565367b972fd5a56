/**
 * A private Docker 26 in a privileged container (the chart's dind sidecar; the docker:26-dind
 * stand-in .ci/setup/docker26.sh builds), with its own name, socket directory and run label, for
 * the tests and benchmarks that change the engine's container or its cgroup (the shared
 * plancton-ci-docker26 serves other tests). busybox:latest is loaded into it. With `topLevel`, it
 * starts as the chart's sidecar does in its default placement: through the chart's own
 * helm/plancton/files/dind-cgroups.sh (this very file, mounted read-only), with the host's /proc at
 * /host/proc, so that the engine sees the host's cgroup root and puts the pilots' parent there.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { docker, REQUIRE_ENGINE_ENV, requireEngine, TEST_RUN_LABEL, waitFor } from './docker.ts';
import { CGROUP_ROOT, cgroupOf } from './host.ts';

export const DIND_IMAGE = process.env.PLANCTON_DIND_IMAGE ?? 'docker:26-dind';

/** The chart's wrapper of the sidecar's engine (engine.dind.placement top-level). */
export const DIND_CGROUPS_SCRIPT = fileURLToPath(new URL('../../helm/plancton/files/dind-cgroups.sh', import.meta.url));

/**
 * Why a test of a private engine cannot run here (false: it can): no host engine or busybox, no
 * DIND_IMAGE, or no cgroup v1 `cpu` hierarchy with cpu.idle. Throws instead under
 * PLANCTON_REQUIRE_ENGINE=1.
 */
export async function privateEngineSkip(): Promise<false | string> {
  const engine = await requireEngine('busybox:latest');
  if (engine) return engine;
  let why: string | undefined;
  if ((await execa('docker', ['image', 'inspect', DIND_IMAGE], { reject: false })).failed)
    why = `image ${DIND_IMAGE} is missing (.ci/setup/docker26.sh image)`;
  else {
    try {
      readFileSync(join(CGROUP_ROOT, 'cpu', 'cpu.idle'));
    } catch {
      why = 'needs cgroup v1 with cpu.idle (Linux 5.15+) at /sys/fs/cgroup/cpu';
    }
  }
  if (!why) return false;
  if (process.env[REQUIRE_ENGINE_ENV] === '1') throw new Error(`${REQUIRE_ENGINE_ENV}=1 but ${why}`);
  return `skipped: ${why}`;
}

/** How the engine container is started. */
export interface PrivateEngineOptions {
  /** Through the chart's dind-cgroups.sh (the top-level placement); default: the image's entrypoint alone (in-pod). */
  readonly topLevel?: boolean | undefined;
  /** The container's cgroup namespace (`docker run --cgroupns`); default: the engine's. */
  readonly cgroupns?: 'host' | 'private' | undefined;
}

export interface PrivateEngine {
  readonly name: string;
  readonly socket: string;
  /** The engine container's own cgroup in the host's v1 `cpu` hierarchy, e.g. `/docker/<id>`. */
  readonly cpuCgroup: string;
  /** The container's log (the wrapper's lines among them). */
  logs(): Promise<string>;
  /** `docker --host unix://SOCKET args…`; rejects with stderr. */
  inner(args: readonly string[]): Promise<string>;
  /** Removes the container (and all in it) and its socket directory; never throws. */
  remove(): Promise<void>;
}

/** Starts the engine container `name` labelled `TEST_RUN_LABEL=label`, once it answers with busybox loaded. */
export async function startPrivateEngine(
  name: string,
  label: string,
  opts: PrivateEngineOptions = {},
): Promise<PrivateEngine> {
  const dir = `/run/${name}`;
  const socket = `${dir}/docker.sock`;
  const inner = async (args: readonly string[]): Promise<string> => {
    const r = await execa('docker', ['--host', `unix://${socket}`, ...args], { reject: false, timeout: 120_000 });
    if (r.exitCode !== 0) throw new Error(`docker ${args.join(' ')} on ${name}: ${String(r.stderr)}`);
    return String(r.stdout).trim();
  };
  const logs = async (): Promise<string> => {
    const r = await execa('docker', ['logs', name], { reject: false, all: true });
    return String(r.all);
  };
  const remove = async (): Promise<void> => {
    await execa('docker', ['rm', '-f', '-v', name], { reject: false, timeout: 120_000 });
    rmSync(dir, { recursive: true, force: true });
  };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    const args = ['run', '-d', '--privileged', '--name', name, '--label', `${TEST_RUN_LABEL}=${label}`];
    if (opts.cgroupns) args.push(`--cgroupns=${opts.cgroupns}`);
    const dockerd = ['dockerd', '--host=unix:///run/plancton-dind/docker.sock'];
    // as the chart's sidecar: sh WRAPPER dockerd-entrypoint.sh dockerd …, the node's /proc at /host/proc
    const wrapped = [
      ...['-v', '/proc:/host/proc:ro', '-v', `${DIND_CGROUPS_SCRIPT}:/etc/plancton-dind/dind-cgroups.sh:ro`],
      ...['--entrypoint', 'sh', DIND_IMAGE, '/etc/plancton-dind/dind-cgroups.sh', 'dockerd-entrypoint.sh', ...dockerd],
    ];
    await docker([...args, '-v', `${dir}:/run/plancton-dind`, ...(opts.topLevel ? wrapped : [DIND_IMAGE, ...dockerd])]);
    const pid = Number(await docker(['inspect', '-f', '{{.State.Pid}}', name]));
    const cpuCgroup = cgroupOf(pid, 'cpu') ?? cgroupOf(pid, '') ?? '';
    await waitFor(
      'the private engine',
      async () => ((await inner(['version']).catch(() => '')) ? true : undefined),
      120_000,
      300,
    );
    await execa('sh', ['-c', `docker save busybox:latest | docker --host unix://${socket} load -q`], {
      timeout: 300_000,
    });
    return { name, socket, cpuCgroup, logs, inner, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
