/**
 * A real HTCondor pool for the pilot tests: a central manager (the pilot image in its
 * central-manager role, pilots/htcondor/central-manager.sh) on a user-defined network of the
 * test's own, with the pilots' token in a host directory, and `condor_*` commands run in it
 * through `docker exec`. What is checked comes from HTCondor and the engine, not from Plancton.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { TEST_RUN_LABEL, docker, requireEngine, waitFor } from './docker.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
/** The tag .ci/setup/htcondor-setup.sh builds pilots/htcondor/Dockerfile.debian under (not config/htcondor.yaml's). */
export const HTCONDOR_IMAGE = 'plancton-pilot-htcondor:test';
export const TRIXIE_IMAGE = 'debian:trixie-slim';
/** The unprivileged user of the image that submits jobs (HTCondor runs none as root). */
export const SUBMITTER = 'submitter';

/** The `skip` option of the HTCondor suites (a throw under PLANCTON_REQUIRE_ENGINE=1, as everywhere). */
export async function requireHTCondor(): Promise<false | string> {
  const skip = await requireEngine(TRIXIE_IMAGE);
  if (skip !== false) return skip.replace('run .ci/setup/images.sh', 'run .ci/setup/htcondor-setup.sh');
  const image = await requireEngine(HTCONDOR_IMAGE);
  return image === false ? false : image.replace('run .ci/setup/images.sh', 'run .ci/setup/htcondor-setup.sh');
}

let built: Promise<void> | undefined;

/** Builds the Debian flavour as HTCONDOR_IMAGE from the work tree, once per process (cached layers: seconds). */
export function buildHTCondorImage(): Promise<void> {
  built ??= (async () => {
    const r = await execa(
      'docker',
      ['build', '-q', '-f', 'pilots/htcondor/Dockerfile.debian', '-t', HTCONDOR_IMAGE, 'pilots/htcondor'],
      { cwd: ROOT, reject: false, timeout: 20 * 60_000 },
    );
    if (r.failed)
      throw new Error(`docker build of pilots/htcondor/Dockerfile.debian failed: ${r.stderr || r.shortMessage}`);
  })();
  return built;
}

export interface JobAd {
  readonly [attr: string]: unknown;
}

/** A central manager on a network of its own; `name` prefixes everything it creates. */
export class Pool {
  readonly network: string;
  readonly cm: string;
  /** The name the pilots reach the central manager by (its network alias and host name). */
  readonly host = 'cm';
  /** Host directory where the central manager writes the pilots' token (bind-mounted read-only into pilots). */
  readonly tokenDir: string;

  readonly name: string;
  readonly runLabel: string;

  constructor(name: string, runLabel: string) {
    this.name = name;
    this.runLabel = runLabel;
    this.network = `${name}-net`;
    this.cm = `${name}-cm`;
    this.tokenDir = mkdtempSync(join(tmpdir(), `${name}-tokens-`));
  }

  async start(): Promise<this> {
    await docker(['network', 'create', '--label', `${TEST_RUN_LABEL}=${this.runLabel}`, this.network]);
    await docker([
      'run',
      '-d',
      '--name',
      this.cm,
      '--hostname',
      this.host,
      '--network',
      this.network,
      '--network-alias',
      this.host,
      '--label',
      `${TEST_RUN_LABEL}=${this.runLabel}`,
      '-v',
      `${this.tokenDir}:/etc/condor/pilot-tokens`,
      HTCONDOR_IMAGE,
      '/usr/local/bin/htcondor-central-manager',
    ]);
    await waitFor(
      "the central manager's daemons and the pilots' token",
      async () => {
        const ready = await this.exec(['condor_who', '-wait:5', 'IsReady'], 'root', 30_000);
        const token = await execa('test', ['-s', join(this.tokenDir, 'pilot')], { reject: false });
        return ready.exitCode === 0 && token.exitCode === 0 ? true : undefined;
      },
      180_000,
      1000,
    );
    return this;
  }

  /** `docker exec` in the central manager, as `user`, in the submitter's home; never rejects. */
  async exec(
    args: readonly string[],
    user = SUBMITTER,
    timeoutMs = 120_000,
  ): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const r = await execa('docker', ['exec', '-u', user, '-w', '/home/submitter', this.cm, ...args], {
      reject: false,
      timeout: timeoutMs,
    });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout).trim(), stderr: String(r.stderr).trim() };
  }

  /** Like exec, but rejects on a non-zero exit. */
  async run(args: readonly string[], user = SUBMITTER): Promise<string> {
    const r = await this.exec(args, user);
    if (r.exitCode !== 0)
      throw new Error(`${args.join(' ')} in the central manager failed (${r.exitCode}): ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  /** Writes `text` to `file` in the submitter's home. */
  async write(file: string, text: string): Promise<void> {
    const r = await execa(
      'docker',
      ['exec', '-i', '-u', SUBMITTER, '-w', '/home/submitter', this.cm, 'sh', '-c', `cat > '${file}'`],
      { input: text, reject: false, timeout: 60_000 },
    );
    if (r.exitCode !== 0) throw new Error(`writing ${file} in the central manager failed: ${r.stderr}`);
  }

  /** Submits a submit file's text; the cluster id. */
  async submit(file: string, text: string): Promise<number> {
    await this.write(file, text);
    const out = await this.run(['condor_submit', '-terse', file]);
    const m = /^(\d+)\./.exec(out);
    if (!m) throw new Error(`condor_submit printed no cluster: ${out}`);
    return Number(m[1]);
  }

  /** The startd slots the collector knows, as JSON ads. */
  async slots(): Promise<JobAd[]> {
    const r = await this.exec(
      [
        'condor_status',
        '-json',
        '-attributes',
        'Name,Machine,Cpus,Memory,SlotType,State,Activity,PLANCTON_PILOT_ID,PLANCTON_HOST',
      ],
      'root',
    );
    if (r.exitCode !== 0) return [];
    return r.stdout === '' ? [] : (JSON.parse(r.stdout) as JobAd[]);
  }

  /** The jobs of `cluster` in the queue and in the history (the queue's version wins). */
  async jobs(cluster: number): Promise<JobAd[]> {
    const attrs =
      'ClusterId,ProcId,JobStatus,ExitCode,NumJobStarts,RemoteHost,LastRemoteHost,JobCurrentStartDate,JobStartDate,CompletionDate,RemoteWallClockTime,CumulativeSlotTime,PLANCTON_TARGET';
    const q = await this.exec(['condor_q', String(cluster), '-json', '-attributes', attrs], 'root');
    const h = await this.exec(['condor_history', String(cluster), '-json', '-attributes', attrs], 'root');
    const parse = (s: string): JobAd[] => (s === '' ? [] : (JSON.parse(s) as JobAd[]));
    const byProc = new Map<number, JobAd>();
    for (const ad of [...parse(h.exitCode === 0 ? h.stdout : ''), ...parse(q.exitCode === 0 ? q.stdout : '')])
      byProc.set(Number(ad['ProcId']), ad);
    return [...byProc.values()].sort((a, b) => Number(a['ProcId']) - Number(b['ProcId']));
  }

  /** Waits until every job of `cluster` has completed (JobStatus 4), `count` of them; their ads. */
  async completed(cluster: number, count: number, timeoutMs: number): Promise<JobAd[]> {
    return waitFor(
      `${count} completed jobs of cluster ${cluster}`,
      async () => {
        const ads = await this.jobs(cluster);
        return ads.length === count && ads.every((a) => a['JobStatus'] === 4) ? ads : undefined;
      },
      timeoutMs,
      2000,
    );
  }

  async stop(): Promise<void> {
    await execa('docker', ['rm', '-f', '-v', this.cm], { reject: false, timeout: 60_000 });
    await execa('docker', ['network', 'rm', this.network], { reject: false, timeout: 60_000 });
    rmSync(this.tokenDir, { recursive: true, force: true });
  }
}

/** The pilot id (the last part of `plancton-<host>-<id>`) of a slot or RemoteHost name `slot1_2@plancton-h-abc123`. */
export function pilotOfSlot(name: unknown): string {
  return (typeof name === 'string' ? name : '').split('@').at(-1)?.split('-').at(-1) ?? '';
}

/**
 * The commands of the README block between `<!-- NAME:start -->` and `<!-- NAME:end -->`
 * (fences, comments and blank lines dropped, `\` continuations joined); throws when the markers
 * are missing, so that a test of the block fails instead of testing something else.
 */
export function readmeBlock(name: string, readme = readFileSync(join(ROOT, 'README.md'), 'utf8')): string[] {
  const start = readme.indexOf(`<!-- ${name}:start -->`);
  const end = readme.indexOf(`<!-- ${name}:end -->`);
  if (start < 0 || end < start)
    throw new Error(`README.md has no <!-- ${name}:start --> ... <!-- ${name}:end --> block`);
  const commands: string[] = [];
  let current = '';
  for (const raw of readme.slice(start, end).split('\n').slice(1)) {
    const line = raw.trim().replace(/^\$ /, '');
    if (line.startsWith('```') || line.startsWith('#') || (line === '' && current === '')) continue;
    current += (current ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (!line.endsWith('\\')) {
      if (current) commands.push(current);
      current = '';
    }
  }
  if (current) commands.push(current);
  return commands;
}
