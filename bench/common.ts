/**
 * What every benchmark shares: its options, a header with the machine and its load, Plancton
 * daemons and raw containers that are always cleaned up (also on Ctrl-C), and result tables.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { DaemonProcess, logRecords, pilotsOf, type PilotRow } from '../test/support/daemon.ts';
import { docker, removeByLabel, requireEngine, TEST_RUN_LABEL, waitFor } from '../test/support/docker.ts';
import { CGROUP_ROOT, removeCgroup } from '../test/support/host.ts';
import { GiB, loadavg, median } from './host.ts';

export const NCPUS = cpus().length;

/** The busy loop every CPU benchmark's pilots run. */
export const BUSY_LOOP = ['sh', '-c', 'while :; do :; done'];

/** Parses `--name value` options; unknown ones are an error, so that a typo is not a silent default. */
export function options<T extends Record<string, string>>(defaults: T): { [K in keyof T]: string } {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.keys(defaults).map((k) => [k, { type: 'string' as const }])),
    strict: true,
  });
  return { ...defaults, ...(values as Partial<T>) };
}

/** One benchmark run: a unique id, its own idle cgroup name, and everything to clean up. */
export class BenchRun {
  readonly id = randomBytes(3).toString('hex');
  /** A parent cgroup of this run's own, so that other Plancton instances on the host do not pollute its accounting. */
  readonly cgroup = `plancton-bench-${this.id}`;
  readonly #cleanups: Array<() => Promise<void> | void> = [];
  #cleaned = false;

  readonly title: string;

  constructor(title: string) {
    this.title = title;
    const onSignal = (): void => {
      console.error('\ninterrupted: cleaning up');
      void this.cleanup().finally(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  /** Prints what, when, where and how loaded; fails early without an engine or the image. */
  async header(settings: Record<string, unknown>): Promise<void> {
    const skip = await requireEngine('busybox');
    if (skip) throw new Error(skip);
    const engine = await docker(['version', '--format', '{{.Server.Version}}']);
    console.log(`# ${this.title}`);
    console.log(`date: ${new Date().toISOString()}   run: ${this.id}`);
    console.log(
      `machine: ${NCPUS} CPUs (${cpus()[0]?.model ?? '?'}), ${(totalmem() / GiB).toFixed(1)} GiB, Docker ${engine}`,
    );
    console.log(`loadavg at start: ${loadavg()}`);
    console.log(`settings: ${JSON.stringify(settings)}`);
  }

  defer(fn: () => Promise<void> | void): void {
    this.#cleanups.push(fn);
  }

  /** Fails once the cleanup has begun: a body still running after Ctrl-C must not start what nothing would remove. */
  #live(): void {
    if (this.#cleaned) throw new Error('interrupted: starting nothing more');
  }

  /** Runs every cleanup, last registered first; idempotent. */
  async cleanup(): Promise<void> {
    if (this.#cleaned) return;
    this.#cleaned = true;
    for (const fn of this.#cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error(`cleanup: ${(err as Error).message}`);
      }
    }
    try {
      await removeAll(`${TEST_RUN_LABEL}=${this.id}`);
    } catch (err) {
      console.error(`cleanup: containers labelled ${TEST_RUN_LABEL}=${this.id} may be left: ${(err as Error).message}`);
    }
    removeCgroup(this.cgroup);
  }

  /** Runs `body`, then cleans up whatever happened; exits 1 on failure. */
  async main(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      console.error(`FAILED: ${(err as Error).stack ?? String(err)}`);
      process.exitCode = 1;
    } finally {
      await this.cleanup();
      console.log(`loadavg at end: ${loadavg()}`);
    }
  }

  /** A `plancton run` with exactly these settings (YAML), logging at info unless told otherwise. */
  daemon(settings: Record<string, unknown>, opts: { logLevel?: string; instance?: string } = {}): BenchDaemon {
    this.#live();
    const instance = opts.instance ?? `bench-${this.id}-${randomBytes(2).toString('hex')}`;
    const logLevel = opts.logLevel ?? 'info';
    const yaml =
      Object.entries({ instance_id: instance, ...settings })
        .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
        .join('\n') + '\n';
    const d = new BenchDaemon(instance, new DaemonProcess(yaml));
    d.process.start({ PLANCTON_LOG_LEVEL: logLevel });
    this.defer(() => d.stop());
    return d;
  }

  /** `docker run -d` of `n` raw containers (not Plancton's), labelled for this run's cleanup. */
  async rawContainers(n: number, args: readonly string[], cmd: readonly string[]): Promise<string[]> {
    this.#live();
    return Promise.all(
      Array.from({ length: n }, () =>
        docker(['run', '-d', '--label', `${TEST_RUN_LABEL}=${this.id}`, ...args, 'busybox', ...cmd]),
      ),
    );
  }

  /**
   * A parent cgroup of this run's with cpu.idle=1 made by hand (cgroup v1), what the idle priority
   * is without Plancton: the `docker run` arguments that put raw containers under it. Removed at the end.
   */
  idleParent(): string[] {
    const group = `${this.cgroup}-raw`;
    const dir = join(CGROUP_ROOT, 'cpu', group);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'cpu.idle'), '1\n');
    this.defer(async () => {
      await this.removeRaw();
      removeCgroup(group);
    });
    return ['--cgroup-parent', `/${group}`];
  }

  async removeRaw(): Promise<void> {
    await removeAll(`${TEST_RUN_LABEL}=${this.id}`);
  }
}

/** A daemon of a benchmark and its pilots; `stop()` ends both and removes the temporary directory. */
export class BenchDaemon {
  readonly instance: string;
  readonly process: DaemonProcess;
  #stopped = false;

  constructor(instance: string, process: DaemonProcess) {
    this.instance = instance;
    this.process = process;
  }

  get pid(): number {
    const pid = this.process.proc?.pid;
    if (pid === undefined) throw new Error('the daemon has no pid');
    return pid;
  }

  async running(): Promise<PilotRow[]> {
    return pilotsOf(this.instance, 'running');
  }

  async waitRunning(n: number, timeoutMs: number): Promise<PilotRow[]> {
    try {
      return await waitFor(
        `${n} running pilots of ${this.instance}`,
        async () => {
          if (!this.process.running) throw new Error(`the daemon exited:\n${this.process.log.slice(-2000)}`);
          const rows = await this.running();
          return rows.length >= n ? rows : undefined;
        },
        timeoutMs,
      );
    } catch (err) {
      // say why Plancton did not start them (its own arithmetic), not only that it did not
      const fit = this.process.status()?.fit;
      throw new Error(`${(err as Error).message}; the daemon's last decision: ${JSON.stringify(fit)}`, { cause: err });
    }
  }

  /** The daemon's log records of `event` so far (e.g. `pilot-paused`): when (ms since the epoch) and which container. */
  events(event: string): Array<{ at: number; id: string }> {
    return logRecords(this.process.log)
      .filter((r) => r.event === event)
      .map((r) => ({
        at: Date.parse(String(r.timestamp)),
        id: String((r.id as string | undefined) ?? (r.container as string | undefined) ?? ''),
      }));
  }

  /** SIGKILL (the pilots are removed here, not by the daemon: quicker and the same for every case). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.process.cleanup();
    rmSync(this.process.dir, { recursive: true, force: true });
    await removeAll(`org.plancton.instance=${this.instance}`);
  }
}

/**
 * Removes every container with `label`; when the engine does not answer (another job on the
 * machine may be restarting it), waits up to 2 minutes for it rather than leave containers behind.
 */
export async function removeAll(label: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await removeByLabel(label);
      return;
    } catch (err) {
      if (attempt >= 40) throw err;
      if (attempt === 0)
        console.error(`cleanup: the engine does not answer, retrying for 2 minutes: ${(err as Error).message}`);
      await sleep(3000);
    }
  }
}

/** Runs `n` copies of `cmd` at once on the host and returns the wall time until the last one ended, seconds. */
export async function timeJob(n: number, cmd: readonly string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const results = await Promise.all(
    Array.from({ length: n }, () => execa(cmd[0] ?? 'true', cmd.slice(1), { reject: false })),
  );
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  const bad = results.find((r) => r.exitCode !== 0);
  if (bad) throw new Error(`owner job failed: ${bad.shortMessage ?? ''}`);
  return sec;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Prints rows as a Markdown table. */
export function table(head: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): void {
  const fmt = (r: readonly (string | number)[]): string => `| ${r.map(String).join(' | ')} |`;
  console.log(fmt(head));
  console.log(fmt(head.map(() => '---')));
  for (const r of rows) console.log(fmt(r));
}

export const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : String(x));
export const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : String(x));

/** What rotatingReps measured: per condition, its times and the ratios to the base in the same repetition. */
export interface RepTimes<C extends string> {
  readonly times: Record<C, number[]>;
  readonly paired: Record<C, number[]>;
}

/**
 * Runs `one` for every condition once a repetition, in an order rotated each time (so that no
 * condition always follows the same one); `one` returns the time it measured.
 */
export async function rotatingReps<C extends string>(
  conditions: readonly C[],
  reps: number,
  base: C,
  one: (c: C, rep: number) => Promise<number>,
): Promise<RepTimes<C>> {
  const times = Object.fromEntries(conditions.map((c) => [c, [] as number[]])) as Record<C, number[]>;
  const paired = Object.fromEntries(conditions.map((c) => [c, [] as number[]])) as Record<C, number[]>;
  for (let r = 0; r < reps; r++) {
    const thisRep: Partial<Record<C, number>> = {};
    for (let i = 0; i < conditions.length; i++) {
      const c = conditions[(i + r) % conditions.length] as C;
      const t = await one(c, r);
      thisRep[c] = t;
      times[c].push(t);
    }
    for (const c of conditions) paired[c].push((thisRep[c] ?? NaN) / (thisRep[base] ?? NaN));
  }
  return { times, paired };
}

/** The table of rotatingReps' result: times, median, median over the base's median, median of the per-rep ratios. */
export function repTable<C extends string>(conditions: readonly C[], base: C, { times, paired }: RepTimes<C>): void {
  const b = median(times[base]);
  table(
    ['condition', 'times (s)', 'median (s)', `median / ${base} median`, 'median of per-rep ratios'],
    conditions.map((c) => [
      c,
      times[c].map(f2).join(' '),
      f3(median(times[c])),
      f3(median(times[c]) / b),
      f3(median(paired[c])),
    ]),
  );
}
