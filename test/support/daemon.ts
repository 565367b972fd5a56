/** Runs the built `plancton` as a user would, for integration tests: a real process on the real engine. */
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { StatusReport } from '../../src/report/status.ts';
import { docker } from './docker.ts';

export const BIN = resolve(import.meta.dirname, '../../dist/cli/plancton.js');

/** The daemon's JSON log lines, parsed, in order; a line still being written is left out. */
export function logRecords(log: string): Array<Record<string, unknown>> {
  return log.split('\n').flatMap((l) => {
    if (!l.startsWith('{')) return [];
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** The daemon's `iteration` log lines, one per pass, as `T`. */
export function passesIn<T = Record<string, unknown>>(log: string): T[] {
  return logRecords(log).filter((r) => r.message === 'iteration') as T[];
}

/** A fast configuration for tests: 1 s iterations, tiny CPU shares, pilots that sleep. */
export function testConfig(instance: string, extra: Record<string, unknown> = {}): string {
  const base: Record<string, unknown> = {
    instance_id: instance,
    main_sleep: 1,
    updateconfig: 1,
    max_docks: 3,
    docks_per_loop: 4,
    cpus_per_dock: 0.05,
    max_dock_mem: 64 * 1024 * 1024,
    docker_image: 'busybox',
    docker_cmd: 'sleep 600',
    stop_timeout: 1,
    grace_kill: 600,
    // 0.6's behaviour unless a test asks for pausing
    pause_max: 0,
    grace_spawn: 0,
    // pilots killed by tests after a few seconds must not look like "no work here"
    no_work_uptime: 0,
    log_level: 'debug',
    ...extra,
  };
  return (
    Object.entries(base)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join('\n') + '\n'
  );
}

export class DaemonProcess {
  readonly dir: string;
  readonly configFile: string;
  proc: ResultPromise | undefined;
  /** Whether the last started process is still running (execa's subprocess has no usable exitCode). */
  running = false;
  #log = '';

  constructor(configYaml: string, dir = mkdtempSync(join(tmpdir(), 'plancton-it-'))) {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
    this.dir = dir;
    this.configFile = join(dir, 'config.yaml');
    writeFileSync(this.configFile, configYaml);
  }

  get runDir(): string {
    return join(this.dir, 'run');
  }

  /** Starts `plancton run` in the background, with `env` on top of the test's environment. */
  start(env: Record<string, string> = {}): this {
    this.#log = '';
    this.proc = execa('node', [BIN, 'run', '--config', this.configFile, '--run-dir', this.runDir], {
      reject: false,
      all: true,
      env: { PLANCTON_LOG_LEVEL: 'debug', ...env },
    });
    this.running = true;
    const proc = this.proc;
    void proc.finally(() => {
      if (this.proc === proc) this.running = false;
    });
    this.proc.all?.on('data', (chunk: Buffer) => {
      this.#log += chunk.toString();
    });
    return this;
  }

  get log(): string {
    return this.#log;
  }

  /** Runs a `plancton` command against this daemon's run directory. */
  async cli(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const r = await execa('node', [BIN, ...args, '--config', this.configFile, '--run-dir', this.runDir], {
      reject: false,
      timeout: 120_000,
    });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  status(): StatusReport | undefined {
    try {
      return JSON.parse(readFileSync(join(this.runDir, 'status.json'), 'utf8')) as StatusReport;
    } catch {
      return undefined;
    }
  }

  /** Replaces the config file at once (a new file renamed over it), so that a reload never reads half of it. */
  writeConfig(yaml: string): void {
    const next = `${this.configFile}.next`;
    writeFileSync(next, yaml);
    renameSync(next, this.configFile);
  }

  /** Waits for the process to end; its exit code. */
  async exited(): Promise<number | undefined> {
    const r = await this.proc;
    return r?.exitCode;
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | undefined> {
    this.proc?.kill(signal);
    return this.exited();
  }

  /** For `after` hooks: ends the daemon if it still runs, so that no test leaves one behind. */
  async cleanup(): Promise<void> {
    if (this.running) await this.kill('SIGKILL');
  }
}

export interface PilotRow {
  readonly id: string;
  readonly name: string;
  readonly state: string;
}

/** What else a {@link pilotsOf} row must carry, and which engine answers. */
export interface PilotsOfOptions {
  /** More labels every row must carry, e.g. the pilot role or a pool. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Runs the docker CLI (default: the host engine's). */
  readonly docker?: (args: string[]) => Promise<string>;
}

/** The containers labelled for `instance` (and `o.labels`), as the engine sees them (not as the daemon reports them). */
export async function pilotsOf(instance: string, state?: string, o: PilotsOfOptions = {}): Promise<PilotRow[]> {
  const labels = { 'org.plancton.instance': instance, ...o.labels };
  const out = await (o.docker ?? docker)([
    'ps',
    '-a',
    '--no-trunc',
    ...Object.entries(labels).flatMap(([k, v]) => ['--filter', `label=${k}=${v}`]),
    '--format',
    '{{.ID}} {{.Names}} {{.State}}',
  ]);
  const rows =
    out === ''
      ? []
      : out.split('\n').map((l) => {
          const [id = '', name = '', st = ''] = l.split(' ');
          return { id, name, state: st };
        });
  return state ? rows.filter((r) => r.state === state) : rows;
}

/** The labels of a container Plancton made as a pilot: look-alikes lack one of them. */
export const PILOT_LABELS = { 'org.plancton.managed-by': 'plancton', 'org.plancton.role': 'pilot' } as const;

/** A container that looks like a pilot by name but carries none of our labels (or another instance's). */
export async function foreignContainer(
  name: string,
  labels: Record<string, string> = {},
): Promise<{ id: string; startedAt: string }> {
  await execa('docker', ['rm', '-f', name], { reject: false });
  const labelArgs = Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  const id = await docker(['run', '-d', '--name', name, ...labelArgs, 'busybox', 'sleep', '3600']);
  return { id, startedAt: await docker(['inspect', '-f', '{{.State.StartedAt}}', id]) };
}

/** Fails unless the container still runs, unrestarted since `startedAt`. */
export async function assertUntouched(c: { id: string; startedAt: string }): Promise<void> {
  const now = await docker(['inspect', '-f', '{{.State.Status}} {{.State.StartedAt}}', c.id]);
  if (now !== `running ${c.startedAt}`) throw new Error(`foreign container ${c.id} was touched: ${now}`);
}
