/**
 * The pilot images of `pilots/` and what their end-to-end tests need around them: the image
 * built from the project's Dockerfile, a WorkQueue manager on the host
 * (test/support/workqueue-manager.py) and a record of the pilots' starts and ends from the
 * engine's event stream (not from Plancton, so that what is checked does not come from what is
 * tested).
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { REQUIRE_ENGINE_ENV, requireEngine } from './docker.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const PILOTS_DIR = resolve(ROOT, 'pilots');
/** The base image of pilots/workqueue (.ci/setup/node-image.sh builds a local stand-in). */
export const DEBIAN_IMAGE = 'debian:bookworm-slim';
/** The tag the tests build pilots/workqueue under (not config/workqueue.yaml's, so a user's image is never replaced). */
export const WORKQUEUE_IMAGE = 'plancton-pilot-workqueue:test';
/** Debian's python3, where python3-workqueue installs `work_queue` (a python3 earlier on PATH may lack it). */
export const HOST_PYTHON = '/usr/bin/python3';
const MANAGER_SCRIPT = resolve(import.meta.dirname, 'workqueue-manager.py');
/** The host's CA bundle: TLS leaves these machines through an intercepting proxy. */
const CA_BUNDLE = process.env['PLANCTON_CA_BUNDLE'] ?? '/etc/ssl/certs/ca-certificates.crt';

/**
 * The `skip` option of the WorkQueue suites: false when the engine, the Debian base image and
 * the host's `work_queue` Python module are there; else the reason, or a throw under
 * PLANCTON_REQUIRE_ENGINE=1 (CI), so that nothing is skipped there.
 */
export async function requireWorkqueue(): Promise<false | string> {
  const engine = await requireEngine(DEBIAN_IMAGE);
  if (engine !== false) return engine;
  const py = await execa(HOST_PYTHON, ['-c', 'import work_queue'], { reject: false, timeout: 30_000 });
  if (!py.failed) return false;
  const problem = `${HOST_PYTHON} cannot import work_queue (run .ci/setup/workqueue-setup.sh): ${py.stderr || py.shortMessage}`;
  if (process.env[REQUIRE_ENGINE_ENV] === '1') throw new Error(`${REQUIRE_ENGINE_ENV}=1 but ${problem}`);
  return `skipped: ${problem}; set ${REQUIRE_ENGINE_ENV}=1 to fail instead`;
}

const built = new Map<string, Promise<void>>();

/**
 * Builds `pilots/<name>` as `tag`, once per test process. The context is a copy with the host's
 * CA bundle in certs/ (the Dockerfile's way in for a site's CA), so that the image's tasks can
 * reach HTTPS through this machine's proxy; the copy keeps the work tree clean.
 */
export function buildPilotImage(name: string, tag: string, buildArgs: Record<string, string> = {}): Promise<void> {
  let p = built.get(tag);
  if (p === undefined) {
    p = (async () => {
      const ctx = mkdtempSync(join(tmpdir(), `plancton-pilot-${name}-`));
      try {
        cpSync(join(PILOTS_DIR, name), ctx, { recursive: true });
        if (existsSync(CA_BUNDLE) && existsSync(join(ctx, 'certs')))
          cpSync(CA_BUNDLE, join(ctx, 'certs', 'host-ca.crt'));
        const args = Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
        const r = await execa('docker', ['build', '-q', '-t', tag, ...args, ctx], {
          reject: false,
          timeout: 15 * 60_000,
        });
        if (r.failed) throw new Error(`docker build of pilots/${name} failed: ${r.stderr || r.shortMessage}`);
      } finally {
        rmSync(ctx, { recursive: true, force: true });
      }
    })();
    built.set(tag, p);
  }
  return p;
}

/** The last certificate of the host's CA bundle (the proxy's, on these machines), to find it in an image. */
export function hostCaTail(): string | undefined {
  if (!existsSync(CA_BUNDLE)) return undefined;
  const certs = readFileSync(CA_BUNDLE, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  return certs?.at(-1);
}

export interface TaskSpec {
  readonly tag: string;
  readonly command: string;
  readonly cores?: number;
}

export interface TaskDone {
  readonly tag: string;
  readonly output: string;
  /** work_queue's result code: 0 when the task ran and was returned. */
  readonly result: number;
  /** The command's exit code. */
  readonly exit: number;
  readonly host: string;
  /** Epoch seconds (manager's clock) when the result came back. */
  readonly at: number;
}

export interface ManagerStats {
  readonly waiting: number;
  readonly running: number;
  readonly workers: number;
  readonly complete: number;
}

/** A WorkQueue manager on the host, for the tests: submit tasks, wait for their results. */
export class WorkqueueManager {
  readonly results = new Map<string, TaskDone>();
  port = 0;
  #proc: ResultPromise | undefined;
  #stderr = '';
  #waiters: Array<() => void> = [];
  #stats: ManagerStats | undefined;

  /** Starts the manager (any interface, a port from TCP_LOW_PORT up; only workers with the password are served). */
  async start(passwordFile: string): Promise<this> {
    const proc = execa(HOST_PYTHON, [MANAGER_SCRIPT, '--password-file', passwordFile], {
      reject: false,
      buffer: false,
      stdin: 'pipe',
      env: { TCP_LOW_PORT: '20000', TCP_HIGH_PORT: '29999' },
    });
    this.#proc = proc;
    proc.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString();
    });
    const lines = createInterface({ input: proc.stdout });
    lines.on('line', (line) => {
      const msg = JSON.parse(line) as { event: string; port?: number } & Partial<TaskDone>;
      if (msg.event === 'listening') this.port = msg.port ?? 0;
      if (msg.event === 'done') this.results.set(msg.tag ?? '', msg as TaskDone);
      if (msg.event === 'stats') this.#stats = msg as unknown as ManagerStats;
      for (const w of this.#waiters.splice(0)) w();
    });
    await this.#until('the manager to listen', () => this.port > 0, 30_000);
    return this;
  }

  submit(tasks: readonly TaskSpec[]): void {
    this.#proc?.stdin?.write(JSON.stringify({ cmd: 'submit', tasks }) + '\n');
  }

  /** The manager's counts, asked for now. */
  async stats(): Promise<ManagerStats> {
    this.#stats = undefined;
    this.#proc?.stdin?.write(JSON.stringify({ cmd: 'stats' }) + '\n');
    await this.#until("the manager's stats", () => this.#stats !== undefined, 30_000);
    return this.#stats!;
  }

  /** Resolves once every tag has a result; rejects after `timeoutMs`. */
  async allDone(tags: readonly string[], timeoutMs: number): Promise<TaskDone[]> {
    await this.#until(`results of ${tags.length} tasks`, () => tags.every((t) => this.results.has(t)), timeoutMs);
    return tags.map((t) => this.results.get(t)!);
  }

  async stop(): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined) return;
    proc.stdin?.end(JSON.stringify({ cmd: 'quit' }) + '\n');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await proc;
    clearTimeout(timer);
  }

  get stderr(): string {
    return this.#stderr;
  }

  #until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolveWait, rejectWait) => {
      const timer = setTimeout(
        () =>
          rejectWait(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${what}; manager stderr: ${this.#stderr.slice(-2000)}`,
            ),
          ),
        timeoutMs,
      );
      const check = (): void => {
        if (ok()) {
          clearTimeout(timer);
          resolveWait();
        } else this.#waiters.push(check);
      };
      check();
    });
  }
}

export interface PilotEvent {
  readonly kind: 'start' | 'kill' | 'die';
  readonly id: string;
  /** The pilot's `org.plancton.pilot-id` label (its PLANCTON_PILOT_ID). */
  readonly pilotId: string;
  /** Epoch milliseconds, the engine's clock. */
  readonly at: number;
  /** For `die`: the exit code. */
  readonly exitCode?: number;
  /** For `kill`: the signal's number. */
  readonly signal?: number;
}

/** The starts, signals and ends of one Plancton instance's pilots, as the engine reports them. */
export class PilotEvents {
  readonly events: PilotEvent[] = [];
  #proc: ResultPromise;

  /** Follows `docker events` for containers labelled with `instance`, from a second ago on (replayed, so none is missed while the client attaches). */
  constructor(instance: string) {
    this.#proc = execa(
      'docker',
      [
        'events',
        '--since',
        String(Math.floor(Date.now() / 1000) - 1),
        '--filter',
        'type=container',
        '--filter',
        `label=org.plancton.instance=${instance}`,
        '--filter',
        'event=start',
        '--filter',
        'event=kill',
        '--filter',
        'event=die',
        '--format',
        '{{json .}}',
      ],
      { reject: false, buffer: false },
    );
    createInterface({ input: this.#proc.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as {
        status: string;
        id: string;
        timeNano: number;
        Actor: { Attributes: Record<string, string> };
      };
      const { exitCode, signal } = e.Actor.Attributes;
      this.events.push({
        kind: e.status === 'start' || e.status === 'kill' ? e.status : 'die',
        id: e.id,
        pilotId: e.Actor.Attributes['org.plancton.pilot-id'] ?? '',
        at: Math.round(e.timeNano / 1e6),
        ...(exitCode === undefined ? {} : { exitCode: Number(exitCode) }),
        ...(signal === undefined ? {} : { signal: Number(signal) }),
      });
    });
  }

  starts(since = 0): PilotEvent[] {
    return this.events.filter((e) => e.kind === 'start' && e.at >= since);
  }

  dies(since = 0): PilotEvent[] {
    return this.events.filter((e) => e.kind === 'die' && e.at >= since);
  }

  /** Signals the engine sent to pilots (`docker kill`, or the two of `docker stop`). */
  kills(since = 0): PilotEvent[] {
    return this.events.filter((e) => e.kind === 'kill' && e.at >= since);
  }

  /** How many pilots ran at once, at most, over the events since `since` (starts and ends replayed in order). */
  maxConcurrent(since = 0): number {
    const alive = new Set<string>();
    let max = 0;
    for (const e of this.events) {
      if (e.kind === 'start') alive.add(e.id);
      else if (e.kind === 'die') alive.delete(e.id);
      if (e.at >= since) max = Math.max(max, alive.size);
    }
    return max;
  }

  /** How many pilots ran at time `at` (events up to and including it replayed). */
  aliveAt(at: number): number {
    const alive = new Set<string>();
    for (const e of this.events) {
      if (e.at > at) break;
      if (e.kind === 'start') alive.add(e.id);
      else if (e.kind === 'die') alive.delete(e.id);
    }
    return alive.size;
  }

  async stop(): Promise<void> {
    this.#proc.kill('SIGTERM');
    await this.#proc;
  }
}
