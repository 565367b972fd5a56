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
  } catch (err) {
    problem = `the Docker Engine does not answer (run .ci/setup/engine.sh ensure): ${(err as Error).message}`;
  }
  if (problem === undefined) return false;
  if (process.env[REQUIRE_ENGINE_ENV] === '1') throw new Error(`${REQUIRE_ENGINE_ENV}=1 but ${problem}`);
  return `skipped: ${problem}; set ${REQUIRE_ENGINE_ENV}=1 to fail instead`;
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

/** Force-removes every container that carries `label`; for `after` hooks, so it never throws on "already gone". */
export async function removeByLabel(label: string): Promise<void> {
  const ids = await containersByLabel(label);
  if (ids.length > 0) await execa('docker', ['rm', '-f', '-v', ...ids], { reject: false, timeout: 60_000 });
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
