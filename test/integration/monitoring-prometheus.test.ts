/**
 * A real Prometheus (Debian's, on a free loopback port) scraping a running daemon's /metrics,
 * the values read back through its query API and compared with what the engine shows; and
 * /healthz turning 503 for a daemon whose engine socket does not exist (the shared engine is
 * never stopped for this).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpus } from 'node:os';
import { rmSync } from 'node:fs';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, pilotsOf, testConfig } from '../support/daemon.ts';
import { freePort, httpGet, PrometheusServer, requireBinaries, sampleOf } from '../support/monitoring.ts';

const skip = (await requireEngine('busybox')) || (await requireBinaries(['prometheus']));
const instance = randomInstance();

describe('Prometheus scraping a running daemon', { skip, timeout: 300_000 }, () => {
  const prom = new PrometheusServer();
  let d: DaemonProcess;
  let port = 0;
  let hostname = '';

  /** The value Prometheus holds for `promql` once it equals `want` (scrapes are 1 s apart). */
  const promValue = (promql: string, want: (v: number) => boolean, what: string): Promise<number> =>
    waitFor(
      what,
      async () => {
        const [s] = await prom.query(promql);
        return s && want(s.value) ? s.value : undefined;
      },
      30_000,
    );

  before(async () => {
    port = await freePort();
    d = new DaemonProcess(testConfig(instance, { metrics_listen: `127.0.0.1:${port}` })).start();
    await waitFor(
      '3 running pilots',
      async () => ((await pilotsOf(instance, 'running')).length === 3 ? true : undefined),
      60_000,
    );
    hostname = (await waitFor('a status', () => d.status())).hostname;
    await prom.start([`127.0.0.1:${port}`]);
  });

  after(async () => {
    await d?.cleanup();
    await removeByLabel(`org.plancton.instance=${instance}`);
    await prom.stop();
    if (d) rmSync(d.dir, { recursive: true, force: true });
  });

  it('scrapes the target successfully', async () => {
    await promValue('up{job="plancton"}', (v) => v === 1, 'up == 1');
  });

  it('plancton_pilots{state="running"} equals the running pilots the engine shows', async (t) => {
    const engineCount = (await pilotsOf(instance, 'running')).length;
    assert.equal(engineCount, 3);
    const v = await promValue(
      `plancton_pilots{state="running", hostname="${hostname}"}`,
      (x) => x === engineCount,
      'the running count in Prometheus',
    );
    assert.equal(v, engineCount);
    t.diagnostic(`engine: ${engineCount} running pilots; Prometheus: plancton_pilots{state="running"} = ${v}`);
  });

  it('host and configuration figures match the machine and the configuration', async () => {
    assert.equal(await promValue('plancton_max_docks', () => true, 'max_docks'), 3);
    assert.equal(await promValue('plancton_host_cpus', () => true, 'cpus'), cpus().length);
    assert.equal(await promValue('plancton_engine_reachable', () => true, 'engine'), 1);
    assert.equal(await promValue('plancton_daemon_state{state="active"}', () => true, 'state'), 1);
    const split = await prom.query('sum(plancton_host_cpu_share_percent)');
    assert.ok(Math.abs((split[0]?.value ?? 0) - 100) < 1e-6, 'owner + pilots + idle = 100');
    assert.ok((await promValue('plancton_iterations_total', (x) => x > 2, 'iterations')) > 2);
    const info = await prom.query('plancton_info');
    assert.equal(info[0]?.metric.instance_id, instance);
  });

  it('per-pilot CPU series name the running pilots', async () => {
    const running = new Set((await pilotsOf(instance, 'running')).map((p) => p.name));
    const series = await waitFor(
      '3 pilot CPU series',
      async () => {
        const s = await prom.query('plancton_pilot_cpu_percent');
        return s.length === 3 ? s : undefined;
      },
      30_000,
    );
    for (const s of series) assert.ok(running.has(s.metric.pilot ?? ''), `${s.metric.pilot} runs`);
  });

  it("a removal shows in plancton_removals_total and the uptime histogram; the pilot's CPU series goes", async () => {
    // relative to what Prometheus holds now, in case a pilot ended on its own before
    const now = async (q: string): Promise<number> => (await prom.query(`${q} or vector(0)`))[0]?.value ?? 0;
    const exited = await now('sum(plancton_removals_total{reason="exited"})');
    const observed = await now('sum(plancton_pilot_uptime_seconds_count)');
    const code137 = await now('sum(plancton_pilot_exit_codes_total{code="137"})');
    const [victim] = await pilotsOf(instance, 'running');
    assert.ok(victim);
    await docker(['kill', victim.id]);
    await promValue(
      'sum(plancton_removals_total{reason="exited"})',
      (v) => v === exited + 1,
      'one more exited removal in Prometheus',
    );
    await promValue(
      'sum(plancton_pilot_uptime_seconds_count)',
      (v) => v === observed + 1,
      'one more uptime observation',
    );
    await promValue(
      'sum(plancton_pilot_exit_codes_total{code="137"})',
      (v) => v === code137 + 1,
      'one more exit code 137',
    );
    await waitFor(
      "the removed pilot's CPU series gone from /metrics",
      async () => ((await httpGet(port, '/metrics')).body.includes(`pilot="${victim.name}"`) ? undefined : true),
      30_000,
    );
  });

  it("/healthz is 200 and /status is the daemon's report", async () => {
    const h = await httpGet(port, '/healthz');
    assert.equal(h.status, 200);
    const st = JSON.parse((await httpGet(port, '/status')).body) as {
      running: boolean;
      instance: string;
      state: string;
      pilots: unknown[];
    };
    assert.equal(st.running, true);
    assert.equal(st.instance, instance);
    assert.equal(st.state, 'active');
  });
});

describe('/healthz with the engine unreachable', { skip, timeout: 120_000 }, () => {
  let d: DaemonProcess;
  let port = 0;

  before(async () => {
    port = await freePort();
    d = new DaemonProcess(
      testConfig(`${instance}-noengine`, {
        docker_socket: '/nonexistent/plancton-test/docker.sock',
        // known in advance, so the daemon does not wait for the engine to learn them
        hostname: 'it-noengine-host',
        metrics_listen: `127.0.0.1:${port}`,
      }),
    ).start();
  });

  after(async () => {
    await d?.cleanup();
    if (d) rmSync(d.dir, { recursive: true, force: true });
  });

  it('answers 503 with the reason while /status says waiting', async () => {
    await waitFor('status waiting', () => (d.status()?.state === 'waiting' ? true : undefined), 30_000);
    const h = await httpGet(port, '/healthz');
    assert.equal(h.status, 503);
    const body = JSON.parse(h.body) as { status: string; reason: string };
    assert.equal(body.status, 'unhealthy');
    assert.match(body.reason, /^engine unreachable: .*nonexistent/);
    const st = JSON.parse((await httpGet(port, '/status')).body) as {
      state: string;
      engine: { reachable: boolean };
      hostname: string;
    };
    assert.equal(st.state, 'waiting');
    assert.equal(st.engine.reachable, false);
    assert.equal(st.hostname, 'it-noengine-host');
    const m = (await httpGet(port, '/metrics')).body;
    assert.equal(sampleOf(m, 'plancton_engine_reachable'), 0);
    assert.equal(sampleOf(m, 'plancton_daemon_state', { state: 'waiting' }), 1);
    assert.equal(sampleOf(m, 'plancton_pilots', { state: 'running' }), undefined, 'pilot counts are unknown, not 0');
    // the loop goes on while it waits
    const i = d.status()?.iterations ?? 0;
    await waitFor('more iterations', () => ((d.status()?.iterations ?? 0) > i ? true : undefined), 30_000);
    assert.equal((await httpGet(port, '/healthz')).status, 503);
  });
});
