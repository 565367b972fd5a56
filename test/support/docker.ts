/**
 * Helpers for integration tests against the real Docker Engine. They go through the `docker`
 * CLI, not dockerode, so that what the tests check does not share code with what they test.
 */
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';

/** Set to 1 (as CI does) to make a missing engine fail the run instead of skipping. */
export const REQUIRE_ENGINE_ENV = 'PLANCTON_REQUIRE_ENGINE';

/**
 * A label (outside Plancton's `org.plancton.` prefix, so it proves no ownership) put on every
 * container a test creates, so that one `removeByLabel` cleans up a run.
 */
export const TEST_RUN_LABEL = 'org.plancton-test.run';

/** A fresh id per test run, so that concurrent and crashed runs never see each other's containers. */
export function randomInstance(): string {
  return `test-${randomBytes(4).toString('hex')}`;
}

/** Runs `docker args…` and returns its trimmed stdout; rejects with stderr in the message. */
export async function docker(args: readonly string[]): Promise<string> {
  const result = await execa('docker', args, { reject: false, timeout: 60_000 });
  if (result.failed) throw new Error(`docker ${args.join(' ')} failed: ${result.stderr || result.shortMessage}`);
  return result.stdout.trim();
}

/** The socket of the Docker 26 engine CI runs in a privileged container (.ci/setup/docker26.sh). */
export const DOCKER26_SOCKET = process.env.PLANCTON_DOCKER26_SOCKET ?? '/run/plancton-docker26/docker.sock';

/** `docker --host unix://SOCKET args…` (the docker CLI) on the engine `name`; rejects with its stderr. */
export async function dockerOn(
  socket: string,
  name: string,
  args: readonly string[],
  timeoutMs = 120_000,
): Promise<string> {
  const r = await execa('docker', ['--host', `unix://${socket}`, ...args], { reject: false, timeout: timeoutMs });
  if (r.failed) throw new Error(`docker ${args.join(' ')} on ${name}: ${r.stderr || r.shortMessage}`);
  return r.stdout.trim();
}

/**
 * The `skip` option for suites that need the engine (and `image`, when given): false when all
 * is there, else the reason. Throws instead when PLANCTON_REQUIRE_ENGINE=1, so that CI fails.
 */
export async function requireEngine(image?: string): Promise<false | string> {
  let problem: string | undefined;
  try {
    await docker(['version', '--format', '{{.Server.APIVersion}}']);
    if (image !== undefined) {
      const present = await execa('docker', ['image', 'inspect', image], { reject: false, timeout: 30_000 });
      if (present.failed) problem = `image ${image} is missing (run .ci/setup/images.sh)`;
    }
    problem ??= await cannotStart();
  } catch (err) {
    problem = `the Docker Engine does not answer (run .ci/setup/engine.sh ensure): ${(err as Error).message}`;
  }
  if (problem === undefined) return false;
  if (process.env[REQUIRE_ENGINE_ENV] === '1') throw new Error(`${REQUIRE_ENGINE_ENV}=1 but ${problem}`);
  return `skipped: ${problem}; set ${REQUIRE_ENGINE_ENV}=1 to fail instead`;
}

/**
 * Why the engine cannot run a container now (one busybox `true`, given a minute), or undefined. An
 * engine that answers but starts nothing (removals stuck) would have each later suite wait out
 * its timeouts; with this check each fails at once, naming the engine.
 */
async function cannotStart(): Promise<string | undefined> {
  const image = await execa('docker', ['image', 'inspect', 'busybox'], { reject: false, timeout: 30_000 });
  if (image.failed) return undefined; // nothing to try it with: the suites that need an image say so
  const r = await execa('docker', ['run', '--rm', '--label', `${TEST_RUN_LABEL}=canary`, 'busybox', 'true'], {
    reject: false,
    timeout: 60_000,
  });
  if (!r.failed) return undefined;
  return `the Docker Engine answers but cannot run a container (docker run --rm busybox true: ${r.timedOut ? 'no end within 60 s' : r.stderr}); look for containers stuck in removal (docker ps -a --filter status=dead)`;
}

/** The parts of `docker inspect` output that tests look at. */
export interface InspectedContainer {
  readonly Id: string;
  readonly Name: string;
  readonly State: {
    readonly Status: string;
    readonly ExitCode: number;
    readonly StartedAt: string;
    readonly FinishedAt: string;
  };
  readonly Config: {
    readonly Hostname: string;
    readonly User: string;
    readonly Image: string;
    readonly Cmd: readonly string[] | null;
    readonly Env: readonly string[] | null;
    readonly Labels: Readonly<Record<string, string>> | null;
  };
  readonly HostConfig: {
    readonly CpuPeriod: number;
    readonly CpuQuota: number;
    readonly Memory: number;
    readonly MemorySwap: number;
    readonly Binds: readonly string[] | null;
    readonly Devices: readonly { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[] | null;
    readonly CapAdd: readonly string[] | null;
    readonly CapDrop: readonly string[] | null;
    readonly SecurityOpt: readonly string[] | null;
    readonly Privileged: boolean;
    readonly NetworkMode: string;
    readonly PidsLimit?: number | null;
  };
}

/** `docker inspect` of one container, or undefined when it does not exist. */
export async function dockerInspect(id: string): Promise<InspectedContainer | undefined> {
  const result = await execa('docker', ['container', 'inspect', id], { reject: false, timeout: 30_000 });
  if (result.failed) {
    if (/no such (container|object)/i.test(result.stderr)) return undefined;
    throw new Error(`docker inspect ${id} failed: ${result.stderr}`);
  }
  const [info] = JSON.parse(result.stdout) as InspectedContainer[];
  return info;
}

/** Ids of every container, in any state, that carries `label` (`key` or `key=value`). */
export async function containersByLabel(label: string): Promise<string[]> {
  const out = await docker(['ps', '-a', '-q', '--no-trunc', '--filter', `label=${label}`]);
  return out === '' ? [] : out.split('\n');
}

/** How many containers one `docker rm` is given: Plancton's own removal concurrency. */
const REMOVE_BATCH = 8;

/**
 * Force-removes containers by id or name (with their anonymous volumes), a few at a time, and
 * checks that none is left; "already gone" is no error. Hundreds of removals in one `docker rm`
 * once left Docker 20.10 with fifty removals stuck ("Dead") and no container able to start for an
 * hour, so a whole CI run waited on timeouts; a clean-up that cannot finish throws, naming what
 * is left, instead of leaving a broken engine to the next test. `host`: another engine's socket.
 */
export async function removeContainers(ids: readonly string[], host?: string): Promise<void> {
  const at = host ? ['--host', `unix://${host}`] : [];
  const failures: string[] = [];
  for (let i = 0; i < ids.length; i += REMOVE_BATCH) {
    const r = await execa('docker', [...at, 'rm', '-f', '-v', ...ids.slice(i, i + REMOVE_BATCH)], {
      reject: false,
      timeout: 120_000,
    });
    const errors = r.stderr.split('\n').filter((l) => l && !/no such container/i.test(l));
    if (r.timedOut) failures.push(`docker rm timed out after 120 s`);
    else if (r.exitCode !== 0 && errors.length) failures.push(...errors);
  }
  if (ids.length === 0) return;
  // a removal the engine finishes after its client gave up (a Docker-in-Docker engine's own storage) is given a minute more
  let stuck: readonly string[] = ids;
  let answer = '';
  const deadline = Date.now() + 60_000;
  while (stuck.length > 0 && Date.now() < deadline) {
    const left = await execa('docker', [...at, 'ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}}'], {
      reject: false,
      timeout: 60_000,
    });
    answer = left.failed ? `the engine does not answer (${left.stderr || left.shortMessage})` : '';
    const present = left.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' '));
    stuck = left.failed
      ? stuck
      : ids.filter((id) => present.some(([full = '', name]) => full.startsWith(id) || name === id));
    if (stuck.length > 0) await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  if (stuck.length > 0)
    throw new Error(
      `clean-up: ${answer || `${stuck.length} container(s) not removed: ${stuck.slice(0, 5).join(', ')}`}${failures.length ? `; docker rm said: ${failures.slice(0, 3).join('; ')}` : ''}`,
    );
}

/** Force-removes every container that carries `label` (removeContainers); for `after` hooks. */
export async function removeByLabel(label: string): Promise<void> {
  await removeContainers(await containersByLabel(label));
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
