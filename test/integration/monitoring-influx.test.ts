/**
 * The daemon on the real engine writing to a real InfluxDB 1.x (Debian's influxd on a free
 * loopback port): 0.6's series and the richer ones, read back with InfluxQL; then InfluxDB
 * stopped and started again, with the loop keeping its pace, the backlog arriving, and the drop
 * counter matching what is missing from the database.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, pilotsOf, testConfig } from '../support/daemon.ts';
import { freePort, httpGet, Influxd, requireBinaries, sampleOf } from '../support/monitoring.ts';
import { SERIES } from '../../src/report/influx-points.ts';

const skip = (await requireEngine('busybox')) || (await requireBinaries(['influxd']));
const instance = randomInstance();
const DB = 'plancton_it';

/** One field each series always carries, to count its points. */
const ALWAYS: Record<string, string> = {
  daemon: 'uptime',
  measurement: 'cpu_eff',
  host_cpu: 'busy',
  host_memory: 'total_bytes',
  host_pressure: 'avg10',
  pilot_cpu: 'cpu_pct',
  decision: 'running',
  pool: 'share',
  daemon_stats: 'iterations',
  container: 'uptime',
  removal: 'pilot',
};

describe('monitoring to a real InfluxDB', { skip, timeout: 400_000 }, () => {
  const influx = new Influxd();
  let d: DaemonProcess;
  let metricsPort = 0;
  let hostname = '';

  const iterations = (): number => d.status()?.iterations ?? 0;
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number | undefined> =>
    sampleOf((await httpGet(metricsPort, '/metrics')).body, name, labels);
  const last = async (q: string): Promise<Record<string, unknown> | undefined> => (await influx.rows(DB, q))[0];

  before(async () => {
    await influx.start();
    metricsPort = await freePort();
    d = new DaemonProcess(
      testConfig(instance, {
        // the database does not exist yet: the writer creates it, as 0.6 did
        influxdb_url: `${influx.url}#${DB}`,
        influxdb_flush_interval: 1,
        metrics_listen: `127.0.0.1:${metricsPort}`,
      }),
    ).start();
    await waitFor(
      '3 running pilots',
      async () => ((await pilotsOf(instance, 'running')).length === 3 ? true : undefined),
      60_000,
    );
    hostname = (await waitFor('a status', () => d.status()))?.hostname ?? '';
  });

  after(async () => {
    await d?.cleanup();
    await removeByLabel(`org.plancton.instance=${instance}`);
    await influx.destroy();
    if (d) rmSync(d.dir, { recursive: true, force: true });
  });

  it("writes 0.6's daemon and measurement series: containers = running pilots, status, uptime, cpu_eff", async () => {
    const row = await waitFor(
      'daemon.containers = 3 in InfluxDB',
      async () => {
        const r = await last(
          `SELECT last("containers") AS "containers" FROM "daemon" WHERE "hostname" = '${hostname}'`,
        );
        return r?.containers === 3 ? r : undefined;
      },
      30_000,
    );
    assert.equal(row.containers, 3);
    const status = await last(
      `SELECT last("status") AS "status", last("uptime") AS "uptime" FROM "daemon" WHERE "hostname" = '${hostname}'`,
    );
    assert.equal(status?.status, 'active');
    assert.ok(Number(status?.uptime) > 0);
    const eff = await last(`SELECT last("cpu_eff") AS "cpu_eff" FROM "measurement" WHERE "hostname" = '${hostname}'`);
    assert.ok(Number(eff?.cpu_eff) >= 0 && Number(eff?.cpu_eff) <= 100);
    // 0.6 wrote every number as a float: an existing 0.6 database accepts these points
    const types = await influx.rows(DB, 'SHOW FIELD KEYS FROM "daemon"');
    assert.deepEqual(Object.fromEntries(types.map((t) => [t.fieldKey, t.fieldType])), {
      containers: 'float',
      status: 'string',
      uptime: 'float',
    });
  });

  it('writes the richer series: CPU split, memory, PSI, per-pilot CPU, decision, daemon_stats', async () => {
    await waitFor(
      'pilot_cpu points',
      async () => ((await influx.rows(DB, 'SELECT "cpu_pct" FROM "pilot_cpu" LIMIT 1')).length ? true : undefined),
      30_000,
    );
    const cpu = await last(
      `SELECT "busy", "owner", "pilots", "idle", "ncpus" FROM "host_cpu" WHERE "hostname" = '${hostname}' ORDER BY time DESC LIMIT 1`,
    );
    const n = (k: string): number => Number(cpu?.[k]);
    assert.ok(
      Math.abs(n('owner') + n('pilots') - n('busy')) < 1e-6 || n('owner') === 0,
      'owner + pilots = busy (owner floored at 0)',
    );
    assert.ok(Math.abs(n('busy') + n('idle') - 100) < 1e-6, 'busy + idle = 100');
    assert.ok(n('ncpus') >= 1);
    const mem = await last(`SELECT "available_bytes", "total_bytes" FROM "host_memory" ORDER BY time DESC LIMIT 1`);
    assert.ok(Number(mem?.total_bytes) > Number(mem?.available_bytes));
    const psi = await influx.rows(DB, 'SHOW TAG VALUES FROM "host_pressure" WITH KEY = "resource"');
    assert.ok(psi.map((r) => r.value).includes('cpu'), 'PSI of the CPU (this kernel has /proc/pressure)');
    // pilots of this instance, present or already removed (a pilot may have been replaced meanwhile)
    const ours = new Set([
      ...(await pilotsOf(instance)).map((p) => p.name),
      ...(await influx.rows(DB, 'SELECT "pilot" FROM "removal"')).map((r) => String(r.pilot)),
    ]);
    const pilots = (await influx.rows(DB, 'SHOW TAG VALUES FROM "pilot_cpu" WITH KEY = "pilot"')).map((r) =>
      String(r.value),
    );
    assert.ok(
      pilots.length >= 1 && pilots.every((p) => ours.has(p)),
      `pilot_cpu tags ${pilots.join(',')} are pilots of this instance (${[...ours].join(',')})`,
    );
    const latest = await last(`SELECT last("cpu_pct") AS "cpu" FROM "pilot_cpu"`);
    assert.ok(Number(latest?.cpu) >= 0);
    // what blocked the last start depends on how busy this (shared) machine is: any reason, or none
    const decision = await last(
      `SELECT last("blocked") AS "blocked", last("running") AS "running", last("max_docks") AS "max_docks" FROM "decision"`,
    );
    assert.equal(decision?.max_docks, 3);
    assert.match(String(decision?.blocked), /^[a-z-]+$/);
    await waitFor('a decision blocked by max_docks with 3 running', async () => {
      const r = await influx.rows(
        DB,
        `SELECT count("running") AS "n" FROM "decision" WHERE "blocked" = 'max-docks' AND "running" = 3`,
      );
      return Number(r[0]?.n) >= 1 ? true : undefined;
    });
    const stats = await last(
      'SELECT last("iterations") AS "iterations", last("engine_reachable") AS "engine" FROM "daemon_stats"',
    );
    assert.ok(Number(stats?.iterations) > 1);
    assert.equal(stats?.engine, true);
  });

  it("a removed pilot lands in 0.6's container series and in removal, with reason and exit code", async () => {
    const [victim] = await pilotsOf(instance, 'running');
    assert.ok(victim);
    await docker(['kill', victim.id]);
    const removal = await waitFor(
      'the removal in InfluxDB',
      async () => (await influx.rows(DB, `SELECT * FROM "removal" WHERE "pilot" = '${victim.name}'`))[0],
      30_000,
    );
    assert.equal(removal.reason, 'exited');
    assert.equal(removal.exit_code, 137);
    assert.equal(removal.oom_killed, false);
    assert.equal(removal.killed, false);
    assert.equal(removal.hostname, hostname);
    assert.ok(Number(removal.uptime) > 0);
    const container = await influx.rows(
      DB,
      `SELECT "uptime", "started", "killed" FROM "container" WHERE time = '${String(removal.time)}'`,
    );
    assert.equal(container.length, 1);
    assert.equal(container[0]?.started, 'True');
    assert.equal(container[0]?.killed, 'False');
    assert.equal(container[0]?.uptime, removal.uptime);
  });

  it('writes nothing but the documented series, tags and fields', async () => {
    const measurements = (await influx.rows(DB, 'SHOW MEASUREMENTS')).map((r) => String(r.name));
    const known = SERIES as Record<string, { tags: readonly string[]; fields: readonly string[] }>;
    for (const m of measurements) {
      const s = known[m];
      assert.ok(s, `series ${m} is documented`);
      for (const f of await influx.rows(DB, `SHOW FIELD KEYS FROM "${m}"`))
        assert.ok(s.fields.includes(String(f.fieldKey)), `${m}.${String(f.fieldKey)}`);
      for (const t of await influx.rows(DB, `SHOW TAG KEYS FROM "${m}"`))
        assert.ok(s.tags.includes(String(t.tagKey)), `${m} tag ${String(t.tagKey)}`);
    }
    for (const m of [
      'daemon',
      'measurement',
      'container',
      'host_cpu',
      'host_memory',
      'host_pressure',
      'pilot_cpu',
      'removal',
      'decision',
      'daemon_stats',
    ]) {
      assert.ok(measurements.includes(m), `${m} was written`);
    }
  });

  it('InfluxDB stopped: the loop keeps its pace, points are kept; started again: every one arrives', async (t) => {
    await waitFor('the queue empty', async () =>
      (await metric('plancton_influxdb_queued_points')) === 0 ? true : undefined,
    );
    await influx.stop();
    const errorsBefore = (await metric('plancton_influxdb_write_errors_total')) ?? 0;
    const i0 = iterations();
    // about one iteration a second while InfluxDB is down: 8 of them well within 40 s (a blocked loop makes none)
    await waitFor('8 iterations with InfluxDB down', () => (iterations() >= i0 + 8 ? true : undefined), 40_000);
    const queued = (await metric('plancton_influxdb_queued_points')) ?? 0;
    assert.ok(queued >= 8 * 8, `points kept while down: ${queued}`);
    assert.ok(((await metric('plancton_influxdb_write_errors_total')) ?? 0) > errorsBefore, 'writes failed meanwhile');
    assert.match(d.log, /write failed, keeping up to 10000 points/);
    const i1 = iterations();
    await influx.start();
    await waitFor(
      'the backlog written',
      async () => ((await metric('plancton_influxdb_queued_points')) === 0 ? true : undefined),
      30_000,
    );
    // each iteration writes one daemon_stats point: none of those made while down is missing
    const its = (
      await influx.rows(
        DB,
        `SELECT "iterations" FROM "daemon_stats" WHERE "iterations" >= ${i0} AND "iterations" <= ${i1}`,
      )
    ).map((r) => Number(r.iterations));
    assert.deepEqual(
      its,
      Array.from({ length: i1 - i0 + 1 }, (_, k) => i0 + k),
    );
    assert.equal(await metric('plancton_influxdb_dropped_points_total'), 0);
    assert.match(d.log, /writing again/);
    t.diagnostic(
      `InfluxDB down for iterations ${i0}..${i1} (${i1 - i0}); ${queued} points queued meanwhile, all ${its.length} daemon_stats points arrived, 0 dropped`,
    );
    assert.equal((await httpGet(metricsPort, '/healthz')).status, 200, 'InfluxDB down never made the daemon unhealthy');
  });

  it('with a tiny influxdb_queue_size, the drop counter equals what never reached InfluxDB', async (t) => {
    const db = `plancton_q${randomBytes(3).toString('hex')}`;
    const port = await freePort();
    const small = new DaemonProcess(
      testConfig(`${instance}-q`, {
        // no pilots: every iteration writes the same number of points
        max_docks: 0,
        hostname: 'it-queue-host',
        influxdb_url: `${influx.url}#${db}`,
        influxdb_flush_interval: 1,
        influxdb_queue_size: 40,
        metrics_listen: `127.0.0.1:${port}`,
      }),
    ).start();
    try {
      const first = await waitFor(
        'a first daemon_stats point',
        async () => (await influx.rows(db, 'SELECT "iterations" FROM "daemon_stats" ORDER BY time DESC LIMIT 1'))[0],
        30_000,
      );
      // points per iteration, counted in the database at one iteration's timestamp
      const perIteration = (
        await Promise.all(
          Object.entries(ALWAYS).map(
            async ([m, f]) =>
              (await influx.rows(db, `SELECT "${f}" FROM "${m}" WHERE time = '${String(first.time)}'`)).length,
          ),
        )
      ).reduce((a, b) => a + b, 0);
      assert.ok(perIteration >= 7 && perIteration < 20, `points per iteration: ${perIteration}`);
      await influx.stop();
      const i0 = small.status()?.iterations ?? 0;
      await waitFor(
        '10 iterations with InfluxDB down',
        () => ((small.status()?.iterations ?? 0) >= i0 + 10 ? true : undefined),
        30_000,
      );
      const droppedWhileDown =
        sampleOf((await httpGet(port, '/metrics')).body, 'plancton_influxdb_dropped_points_total') ?? 0;
      const queuedWhileDown = sampleOf((await httpGet(port, '/metrics')).body, 'plancton_influxdb_queued_points') ?? -1;
      assert.ok(droppedWhileDown >= 10 * perIteration - 40 - perIteration, `dropped while down: ${droppedWhileDown}`);
      assert.ok(queuedWhileDown <= 40, 'never more than influxdb_queue_size points held');
      await influx.start();
      const iAfter = small.status()?.iterations ?? 0;
      await waitFor(
        'points written again',
        async () => {
          const r = (await influx.rows(db, 'SELECT last("iterations") AS "it" FROM "daemon_stats"'))[0];
          return Number(r?.it) >= iAfter + 3 ? true : undefined;
        },
        30_000,
      );
      // a graceful stop writes what is left, and logs the writer's final account
      await small.kill('SIGTERM');
      const iterationsTotal = small.status()?.iterations ?? 0;
      const line = small.log.split('\n').find((l) => l.includes('writer closed')) ?? '{}';
      const { dropped, unwritten, written } = JSON.parse(line) as {
        dropped: number;
        unwritten: number;
        written: number;
      };
      assert.ok(dropped >= droppedWhileDown, `final dropped ${dropped} (the log: ${line})`);
      const inDb = (
        await Promise.all(
          Object.entries(ALWAYS).map(async ([m, f]) =>
            Number((await influx.rows(db, `SELECT count("${f}") AS "n" FROM "${m}"`))[0]?.n ?? 0),
          ),
        )
      ).reduce((a, b) => a + b, 0);
      assert.equal(inDb, written, 'points in InfluxDB = points the writer counted as written');
      assert.equal(
        inDb + dropped + unwritten,
        perIteration * iterationsTotal,
        'every point of every iteration is in InfluxDB or counted as dropped',
      );
      t.diagnostic(
        `queue 40, ${perIteration} points/iteration, ${iterationsTotal} iterations = ${perIteration * iterationsTotal} points: ${inDb} in InfluxDB + ${dropped} dropped + ${unwritten} unwritten; ${droppedWhileDown} dropped and ${queuedWhileDown} queued during the outage`,
      );
    } finally {
      await small.cleanup();
      rmSync(small.dir, { recursive: true, force: true });
      await removeByLabel(`org.plancton.instance=${instance}-q`);
    }
  });
});
