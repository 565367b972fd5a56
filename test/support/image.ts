/**
 * The container image and the README's quick start, for the end-to-end tests: the image is
 * built with the README's `docker build` line and run with its `docker run` line, verbatim
 * (through bash, as a user pastes them), and Compose with its `docker compose up` line.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { execa } from 'execa';
import type { StatusReport } from '../../src/report/status.ts';
import { REQUIRE_ENGINE_ENV, docker, removeContainers, requireEngine } from './docker.ts';

/** The repository root: the build context and the directory the README's lines run in. */
export const ROOT = resolve(import.meta.dirname, '../..');
/** The Dockerfile's default NODE_IMAGE (.ci/setup/node-image.sh builds a local stand-in). */
export const NODE_IMAGE = 'node:24-bookworm-slim';
/** The pilots of the image's embedded default configuration. */
export const PILOT_IMAGE = 'busybox:latest';

/** The README blocks the end-to-end tests run verbatim, between `<!-- NAME:start -->` and `<!-- NAME:end -->`. */
export type BlockName = 'docker-run' | 'compose-up';

/**
 * The commands of a README block (fences, prompts, comments dropped; `\` continuations joined).
 * Throws when README.md lacks the block's markers or the block is empty: the tests run what
 * the README says, never a copy of their own.
 */
export function readmeCommands(
  name: BlockName,
  readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8'),
): { commands: string[] } {
  const start = readme.indexOf(`<!-- ${name}:start -->`);
  const end = readme.indexOf(`<!-- ${name}:end -->`);
  if (start < 0 || end < start)
    throw new Error(
      `README.md has no <!-- ${name}:start --> ... <!-- ${name}:end --> block: the test runs the README's lines verbatim and has no copy of its own`,
    );
  const text = readme.slice(start, end).split('\n').slice(1).join('\n');
  const commands: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/^\$ /, '');
    if (line.startsWith('```') || line.startsWith('#') || (line === '' && current === '')) continue;
    current += (current ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (!line.endsWith('\\')) {
      if (current) commands.push(current);
      current = '';
    }
  }
  if (current) commands.push(current);
  if (commands.length === 0) throw new Error(`README.md's ${name} block holds no command`);
  return { commands };
}

/** The README's `docker build` and `docker run` lines. */
export function quickStart(readme?: string): { build: string; run: string } {
  const { commands } = readmeCommands('docker-run', readme);
  const build = commands.find((c) => c.startsWith('docker build '));
  const run = commands.find((c) => c.startsWith('docker run '));
  if (!build || !run)
    throw new Error(`the docker-run block has no 'docker build' or 'docker run' line: ${JSON.stringify(commands)}`);
  return { build, run };
}

/** Runs one README line as a user would: `bash -c LINE` in the repository root. */
export async function shell(
  line: string,
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await execa('bash', ['-c', line], { cwd: ROOT, env, reject: false, timeout: timeoutMs });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout).trim(), stderr: String(r.stderr).trim() };
}

let built: Promise<string> | undefined;

/**
 * Builds the image with the README's `docker build` line (once per process; later test files
 * hit the engine's build cache) and returns its id.
 */
export function ensureImage(): Promise<string> {
  built ??= (async () => {
    const { build, run } = quickStart();
    const tag = imageOf(run);
    const previous = await execa('docker', ['image', 'inspect', '-f', '{{.Id}}', tag], {
      reject: false,
      timeout: 30_000,
    });
    const r = await shell(build, {}, 20 * 60_000);
    if (r.exitCode !== 0)
      throw new Error(`'${build}' failed (${r.exitCode}):\n${r.stderr.split('\n').slice(-30).join('\n')}`);
    const id = await docker(['image', 'inspect', '-f', '{{.Id}}', tag]);
    // the image this build replaced under the tag, unless a container still uses it (no -f)
    if (previous.exitCode === 0 && previous.stdout.trim() !== id)
      await execa('docker', ['rmi', previous.stdout.trim()], { reject: false, timeout: 60_000 });
    return id;
  })();
  return built;
}

/**
 * The words of a `docker run` line. The line must need no shell quoting (it is run verbatim
 * through bash elsewhere; here it is only varied), so that splitting on blanks is exact.
 */
export function runWords(line: string): string[] {
  if (!/^[\w\s./:=,@-]+$/.test(line))
    throw new Error(`the docker run line needs shell parsing, which runWords does not do: ${line}`);
  const words = line.split(/\s+/).filter(Boolean);
  if (words[0] !== 'docker' || words[1] !== 'run') throw new Error(`not a docker run line: ${line}`);
  return words;
}

/** The image of a `docker run` line with no command after the image (the last word). */
export function imageOf(line: string): string {
  return runWords(line).at(-1) ?? '';
}

/** The container name of a `docker run` line. */
export function nameOf(line: string): string {
  const words = runWords(line);
  const i = words.indexOf('--name');
  const name = i >= 0 ? words[i + 1] : words.find((w) => w.startsWith('--name='))?.slice('--name='.length);
  if (!name) throw new Error(`the docker run line names no container: ${line}`);
  return name;
}

/**
 * The `docker` arguments of the README's run line with another container name and `extra`
 * options before the image: the same flags, varied per test.
 */
export function variantArgs(line: string, name: string, extra: readonly string[]): string[] {
  const words = runWords(line).slice(1);
  const out: string[] = [];
  for (let i = 0; i < words.length - 1; i++) {
    const w = words[i] ?? '';
    if (w === '--name') {
      out.push('--name', name);
      i++;
    } else if (w.startsWith('--name=')) out.push(`--name=${name}`);
    else out.push(w);
  }
  return [...out, ...extra, words.at(-1) ?? ''];
}

/** A flat configuration file's text: one `key: value` line a setting. */
export const yamlOf = (vars: Record<string, string | number>): string =>
  Object.entries(vars)
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join('\n') + '\n';

/** A fresh suffix for container names and instance ids. */
export function randomSuffix(): string {
  return randomBytes(4).toString('hex');
}

/** The engine's host name: what pilot hostnames and the default instance id are made of. */
export function engineHostName(): Promise<string> {
  return docker(['info', '-f', '{{.Name}}']);
}

/** `docker exec CONTAINER args…`, never rejecting. */
export async function dockerExec(
  container: string,
  args: readonly string[],
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await execa('docker', ['exec', container, ...args], { reject: false, timeout: 60_000 });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout).trim(), stderr: String(r.stderr).trim() };
}

/** The status report of the Plancton in `container` (`plancton status --json`), undefined before its first one. */
export async function statusIn(container: string): Promise<(StatusReport & { running: boolean }) | undefined> {
  const r = await dockerExec(container, ['plancton', 'status', '--json']);
  if (r.stdout === '') return undefined;
  const report = JSON.parse(r.stdout) as Partial<StatusReport> & { running: boolean };
  return report.iterations === undefined ? undefined : (report as StatusReport & { running: boolean });
}

/** Ids of the running containers labelled `org.plancton.instance=<instance>`. */
export async function runningPilots(instance: string): Promise<string[]> {
  const out = await docker([
    'ps',
    '-q',
    '--no-trunc',
    '--filter',
    `label=org.plancton.instance=${instance}`,
    '--filter',
    'status=running',
  ]);
  return out === '' ? [] : out.split('\n');
}

/** Ids of every container, in any state, labelled `org.plancton.instance=<instance>`. */
export async function allPilots(instance: string): Promise<string[]> {
  const out = await docker(['ps', '-a', '-q', '--no-trunc', '--filter', `label=org.plancton.instance=${instance}`]);
  return out === '' ? [] : out.split('\n');
}

/** Force-removes containers by id or name (removeContainers: throws only when some are left). */
export async function forceRemove(...ids: string[]): Promise<void> {
  await removeContainers(ids);
}

/** The skip option of a suite that needs the engine and these images (fails instead under PLANCTON_REQUIRE_ENGINE=1). */
export async function requireImages(...images: string[]): Promise<false | string> {
  for (const image of images) {
    const skip = await requireEngine(image);
    if (skip !== false)
      return skip.replace('run .ci/setup/images.sh', `run .ci/setup/images.sh and .ci/setup/node-image.sh`);
  }
  return false;
}

/** One Compose the tests run the project's file with: its command and the version it reports. */
export interface ComposeVariant {
  readonly command: readonly string[];
  readonly version: string;
}

/** The Compose releases the project supports: v2 (the `docker compose` plugin, 2.26 here) and v1.29 (`docker-compose`). */
export const COMPOSE_COMMANDS = [['docker', 'compose'], ['docker-compose']] as const;

/** The version `command version --short` reports, or undefined when that Compose does not run. */
export async function composeVersion(command: readonly string[]): Promise<string | undefined> {
  const [cmd = '', ...pre] = command;
  const r = await execa(cmd, [...pre, 'version', '--short'], { reject: false, timeout: 30_000 });
  return r.exitCode === 0 ? String(r.stdout).trim() : undefined;
}

/**
 * The skip option of a suite run with `command` (fails instead under PLANCTON_REQUIRE_ENGINE=1:
 * CI installs both, .ci/setup/compose-v2.sh and Debian's docker-compose).
 */
export async function requireCompose(command: readonly string[]): Promise<false | string> {
  if ((await composeVersion(command)) !== undefined) return false;
  const problem = `\`${command.join(' ')}\` does not run (.ci/setup/compose-v2.sh installs v2, apt-get install docker-compose v1)`;
  if (process.env[REQUIRE_ENGINE_ENV] === '1') throw new Error(`${REQUIRE_ENGINE_ENV}=1 but ${problem}`);
  return `skipped: ${problem}; set ${REQUIRE_ENGINE_ENV}=1 to fail instead`;
}

/** A README line with `docker compose` spelt as `compose` (e.g. `docker-compose` where only v1 exists). */
export function withCompose(line: string, compose: readonly string[]): string {
  return line.replaceAll('docker compose', compose.join(' '));
}
