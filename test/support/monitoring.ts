/**
 * Real InfluxDB 1.x and Prometheus servers for integration tests (Debian's `influxd` and
 * `prometheus`, installed by .ci/setup/monitoring.sh): each on free loopback ports, with its
 * own configuration and data in a temporary directory, stopped and removed by `stop()`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { REQUIRE_ENGINE_ENV, waitFor } from './docker.ts';

/** A port nobody listens on right now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The `skip` option for suites needing these binaries: false when all are there, else the
 * reason; throws when PLANCTON_REQUIRE_ENGINE=1 (as CI sets), so that a missing server fails.
 */
export async function requireBinaries(names: readonly string[]): Promise<false | string> {
  const missing: string[] = [];
  for (const n of names) {
    const r = await execa('sh', ['-c', `command -v ${n}`], { reject: false });
    if (r.exitCode !== 0) missing.push(n);
  }
  if (missing.length === 0) return false;
  const problem = `${missing.join(' and ')} missing (run .ci/setup/monitoring.sh)`;
  if (process.env[REQUIRE_ENGINE_ENV] === '1') throw new Error(`${REQUIRE_ENGINE_ENV}=1 but ${problem}`);
  return `skipped: ${problem}; set ${REQUIRE_ENGINE_ENV}=1 to fail instead`;
}

/** Starts `cmd`; `exited()` tells whether it has ended (execa's subprocess has no usable exitCode). */
function spawnServer(
  cmd: string,
  args: string[],
  onOutput: (text: string) => void,
): { proc: ResultPromise; exited: () => boolean } {
  const proc = execa(cmd, args, { reject: false, all: true, cleanup: true });
  let ended = false;
  void proc.finally(() => (ended = true));
  proc.all?.on('data', (c: Buffer) => onOutput(c.toString()));
  return { proc, exited: () => ended };
}

/** Ends a server process: SIGTERM, then SIGKILL if it lingers. */
async function terminate(proc: ResultPromise | undefined, graceMs = 10_000): Promise<void> {
  if (!proc) return;
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await proc.catch(() => undefined);
  clearTimeout(timer);
}

type InfluxSeries = { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] };

/** `influxd` bound to 127.0.0.1, data kept across stop()/start() until destroy(). */
export class Influxd {
  readonly dir = mkdtempSync(join(tmpdir(), 'plancton-influxd-'));
  port = 0;
  #proc: ResultPromise | undefined;
  #log = '';

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get log(): string {
    return this.#log;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const rpc = await freePort();
    const d = this.dir;
    writeFileSync(
      join(d, 'influxdb.conf'),
      [
        'reporting-disabled = true',
        `bind-address = "127.0.0.1:${rpc}"`,
        '[meta]',
        `  dir = "${d}/meta"`,
        '[data]',
        `  dir = "${d}/data"`,
        `  wal-dir = "${d}/wal"`,
        '  query-log-enabled = false',
        '[monitor]',
        '  store-enabled = false',
        '[subscriber]',
        '  enabled = false',
        '[continuous_queries]',
        '  enabled = false',
        '[http]',
        '  enabled = true',
        `  bind-address = "127.0.0.1:${this.port}"`,
        '  log-enabled = false',
        '  pprof-enabled = false',
        '[logging]',
        '  level = "warn"',
        '  suppress-logo = true',
        '',
      ].join('\n'),
    );
    const { proc, exited } = spawnServer('influxd', ['-config', join(d, 'influxdb.conf')], (t) => (this.#log += t));
    this.#proc = proc;
    await waitFor(
      'influxd to answer /ping',
      async () => {
        if (exited()) throw new Error(`influxd exited: ${this.#log}`);
        const r = await fetch(`${this.url}/ping`).catch(() => undefined);
        return r?.status === 204 ? true : undefined;
      },
      30_000,
    );
  }

  async stop(): Promise<void> {
    await terminate(this.#proc);
    this.#proc = undefined;
  }

  /** Stops the server and removes its data. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Runs InfluxQL; the series of the first statement (none when the database or series is
   * missing). Times come as RFC 3339 strings: nanosecond epochs do not fit in a JSON number.
   */
  async query(db: string, q: string): Promise<InfluxSeries[]> {
    const r = await fetch(`${this.url}/query?${new URLSearchParams({ db, q }).toString()}`);
    const body = (await r.json()) as { results?: Array<{ series?: InfluxSeries[]; error?: string }>; error?: string };
    const first = body.results?.[0];
    if (body.error || (first?.error && !/database not found/.test(first.error)))
      throw new Error(`InfluxQL ${q}: ${body.error ?? first?.error}`);
    return first?.series ?? [];
  }

  /** Rows of a query as objects, across its series (tags merged in). */
  async rows(db: string, q: string): Promise<Array<Record<string, unknown>>> {
    const out: Array<Record<string, unknown>> = [];
    for (const s of await this.query(db, q)) {
      for (const v of s.values)
        out.push({ ...(s.tags ?? {}), ...Object.fromEntries(s.columns.map((c, i) => [c, v[i]])) });
    }
    return out;
  }
}

/** `prometheus` scraping `targets` every second. */
export class PrometheusServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'plancton-prometheus-'));
  port = 0;
  #proc: ResultPromise | undefined;
  #log = '';

  get log(): string {
    return this.#log;
  }

  async start(targets: readonly string[]): Promise<void> {
    this.port = await freePort();
    const conf = join(this.dir, 'prometheus.yml');
    writeFileSync(
      conf,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: plancton',
        '    scrape_timeout: 1s',
        '    metrics_path: /metrics',
        '    static_configs:',
        `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
        '',
      ].join('\n'),
    );
    const { proc, exited } = spawnServer(
      'prometheus',
      [
        `--config.file=${conf}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        '--log.level=warn',
      ],
      (t) => (this.#log += t),
    );
    this.#proc = proc;
    await waitFor(
      'prometheus to be ready',
      async () => {
        if (exited()) throw new Error(`prometheus exited: ${this.#log}`);
        const r = await fetch(`http://127.0.0.1:${this.port}/-/ready`).catch(() => undefined);
        return r?.status === 200 ? true : undefined;
      },
      30_000,
    );
  }

  async stop(): Promise<void> {
    await terminate(this.#proc);
    this.#proc = undefined;
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** An instant query: the samples as [labels, value]. */
  async query(promql: string): Promise<Array<{ metric: Record<string, string>; value: number }>> {
    const r = await fetch(
      `http://127.0.0.1:${this.port}/api/v1/query?${new URLSearchParams({ query: promql }).toString()}`,
    );
    const body = (await r.json()) as {
      status: string;
      error?: string;
      data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    };
    if (body.status !== 'success') throw new Error(`PromQL ${promql}: ${body.error ?? body.status}`);
    return (body.data?.result ?? []).map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  }
}

/** GET on the daemon's metrics server. */
export async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, body: await r.text() };
}

/** One sample of the Prometheus text exposition (first match of `name{...labels}`), or undefined. */
export function sampleOf(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
