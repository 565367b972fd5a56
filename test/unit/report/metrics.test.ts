import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { register as globalRegistry } from 'prom-client';
import { PlanctonMetrics } from '../../../src/report/metrics.ts';
import type { InfluxWriterStats } from '../../../src/report/influx-writer.ts';
import { sampleHost, sampleRemoval, sampleReport } from '../../support/sample-report.ts';

const identity = { instance: 'inst', hostname: 'node1', version: '1.0.0-test' };

/** `name{labels} value` lines of the exposition, by series. */
async function series(m: PlanctonMetrics): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await m.registry.metrics()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

const value = (s: Map<string, number>, name: string, labels = ''): number | undefined =>
  s.get(`${name}{${labels ? `${labels},` : ''}hostname="node1"}`);

describe('Prometheus metrics', () => {
  it('live in their own registry, every one plancton_* with help text', async () => {
    const m = new PlanctonMetrics({ identity });
    m.iteration(sampleReport(), sampleHost());
    const text = await m.registry.metrics();
    const names = m.registry.getMetricsAsArray().map((x) => x.name);
    assert.ok(names.length > 40);
    for (const n of names) assert.match(n, /^plancton_[a-z0-9_]+$/);
    for (const n of names) assert.match(text, new RegExp(`^# HELP ${n} \\S`, 'm'), `help of ${n}`);
    assert.equal((await globalRegistry.metrics()).includes('plancton_'), false, 'nothing in the global registry');
    await m.close();
  });

  it('carry the values of a report', async () => {
    const m = new PlanctonMetrics({ identity, processMetrics: false });
    m.iteration(sampleReport(), sampleHost());
    const s = await series(m);
    assert.equal(value(s, 'plancton_info', 'version="1.0.0-test",instance_id="inst"'), 1);
    assert.equal(value(s, 'plancton_daemon_state', 'state="active"'), 1);
    assert.equal(value(s, 'plancton_daemon_state', 'state="waiting"'), 0);
    assert.equal(value(s, 'plancton_pilots', 'state="running"'), 2);
    assert.equal(value(s, 'plancton_pilots', 'state="created"'), 1);
    assert.equal(value(s, 'plancton_pilots', 'state="exited"'), 0);
    assert.equal(value(s, 'plancton_max_docks'), 6);
    assert.equal(value(s, 'plancton_host_cpus'), 4);
    assert.equal(value(s, 'plancton_host_cpu_busy_percent'), 60);
    assert.equal(value(s, 'plancton_host_cpu_share_percent', 'part="owner"'), 30);
    assert.equal(value(s, 'plancton_host_cpu_share_percent', 'part="pilots"'), 30);
    assert.equal(value(s, 'plancton_host_cpu_share_percent', 'part="idle"'), 40);
    assert.equal(value(s, 'plancton_host_memory_available_bytes'), 6e9);
    assert.equal(value(s, 'plancton_host_memory_total_bytes'), 8e9);
    assert.equal(value(s, 'plancton_host_swap_free_bytes'), 1.5e9);
    assert.equal(value(s, 'plancton_host_pressure_percent', 'resource="cpu",kind="some",window="10"'), 1.5);
    assert.equal(value(s, 'plancton_host_pressure_percent', 'resource="memory",kind="full",window="300"'), 0);
    assert.equal(value(s, 'plancton_pilot_cpu_percent', 'pilot="plancton-worker-aaaaaa"'), 80);
    assert.equal(value(s, 'plancton_iterations_total'), 7);
    assert.equal(value(s, 'plancton_engine_reachable'), 1);
    assert.equal(value(s, 'plancton_config_last_reload_successful'), 1);
    assert.equal(value(s, 'plancton_config_info', 'hash="abc123def456"'), 1);
    assert.equal(value(s, 'plancton_controls', 'control="drain"'), 0);
    assert.equal(value(s, 'plancton_decision_pilots', 'kind="fitting"'), 1);
    assert.equal(value(s, 'plancton_decision_pilots', 'kind="to_start"'), 1);
    assert.equal(value(s, 'plancton_decision_overloaded'), 0);
    assert.equal(value(s, 'plancton_start_time_seconds'), sampleReport().startedAt / 1000);
  });

  it('iterations and PSI stall time are counters that follow the report', async () => {
    const m = new PlanctonMetrics({ identity, processMetrics: false });
    m.iteration(sampleReport({ iterations: 7 }), sampleHost());
    const host = sampleHost();
    m.iteration(sampleReport({ iterations: 9 }), {
      ...host,
      pressure: { cpu: { some: { avg10: 0, avg60: 0, avg300: 0, total: 7_500_000 } } },
    });
    const s = await series(m);
    assert.equal(value(s, 'plancton_iterations_total'), 9);
    assert.equal(value(s, 'plancton_host_pressure_stall_seconds_total', 'resource="cpu",kind="some"'), 2.5);
  });

  it("removals: counter by reason, exit codes, OOM kills, uptime histogram; the pilot's series goes", async () => {
    const m = new PlanctonMetrics({ identity, processMetrics: false });
    m.iteration(sampleReport(), undefined);
    m.removal(sampleRemoval({ name: 'plancton-worker-aaaaaa', reason: 'exited', exitCode: 0, uptimeSec: 120 }));
    m.removal(sampleRemoval({ reason: 'overload', exitCode: 137, oomKilled: true, uptimeSec: 5000 }));
    m.removal(sampleRemoval({ reason: 'never-started', exitCode: undefined, uptimeSec: undefined, started: false }));
    const s = await series(m);
    assert.equal(value(s, 'plancton_removals_total', 'reason="exited"'), 1);
    assert.equal(value(s, 'plancton_removals_total', 'reason="overload"'), 1);
    assert.equal(value(s, 'plancton_pilot_exit_codes_total', 'code="137"'), 1);
    assert.equal(value(s, 'plancton_pilot_exit_codes_total', 'code="none"'), 1);
    assert.equal(value(s, 'plancton_pilot_oom_kills_total'), 1);
    assert.equal(value(s, 'plancton_pilot_uptime_seconds_count'), 2);
    assert.equal(value(s, 'plancton_pilot_uptime_seconds_sum'), 5120);
    assert.equal(value(s, 'plancton_pilot_uptime_seconds_bucket', 'le="300"'), 1);
    assert.equal(value(s, 'plancton_pilot_uptime_seconds_bucket', 'le="7200"'), 2);
    assert.equal(value(s, 'plancton_pilot_cpu_percent', 'pilot="plancton-worker-aaaaaa"'), undefined);
    assert.equal(value(s, 'plancton_pilot_cpu_percent', 'pilot="plancton-worker-bbbbbb"'), 40);
  });

  it('per-pilot series of pilots gone from the report disappear', async () => {
    const m = new PlanctonMetrics({ identity, processMetrics: false });
    m.iteration(sampleReport(), undefined);
    const r = sampleReport();
    m.iteration(sampleReport({ pilots: r.pilots.slice(1) }), undefined);
    const s = await series(m);
    assert.equal(value(s, 'plancton_pilot_cpu_percent', 'pilot="plancton-worker-aaaaaa"'), undefined);
    assert.equal(value(s, 'plancton_pilot_cpu_percent', 'pilot="plancton-worker-bbbbbb"'), 40);
  });

  it('while the engine is unreachable: waiting, engine 0, and no pilot counts (unknown, not zero)', async () => {
    const m = new PlanctonMetrics({ identity, processMetrics: false });
    m.iteration(sampleReport(), undefined);
    m.iteration(sampleReport({ state: 'waiting', engine: { reachable: false, error: 'x' }, pilots: [] }), undefined);
    const s = await series(m);
    assert.equal(value(s, 'plancton_daemon_state', 'state="waiting"'), 1);
    assert.equal(value(s, 'plancton_daemon_state', 'state="active"'), 0);
    assert.equal(value(s, 'plancton_engine_reachable'), 0);
    assert.equal(value(s, 'plancton_pilots', 'state="running"'), undefined);
    assert.equal(value(s, 'plancton_pilot_cpu_percent', 'pilot="plancton-worker-bbbbbb"'), undefined);
  });

  it('the blocked reason is the current one only', async () => {
    const m = new PlanctonMetrics({ identity, processMetrics: false });
    m.iteration(
      sampleReport({
        fit: {
          running: 0,
          fitting: 0,
          room: 0,
          toStart: 0,
          blocked: 'grace-spawn',
          pilotSharePct: 0,
          overloaded: false,
        },
      }),
      undefined,
    );
    m.iteration(
      sampleReport({
        fit: { running: 6, fitting: 0, room: 0, toStart: 0, blocked: 'max-docks', pilotSharePct: 0, overloaded: false },
      }),
      undefined,
    );
    const s = await series(m);
    assert.equal(value(s, 'plancton_decision_blocked', 'reason="max-docks"'), 1);
    assert.equal(value(s, 'plancton_decision_blocked', 'reason="grace-spawn"'), undefined);
  });

  it('InfluxDB writer figures are read at scrape time, counters never go down', async () => {
    let stats: InfluxWriterStats = {
      queued: 3,
      dropped: 5,
      written: 10,
      writeErrors: 2,
      targets: [{ target: 'http://h:8086#d', queued: 3, dropped: 5, written: 10, writeErrors: 2, failing: true }],
    };
    const m = new PlanctonMetrics({ identity, processMetrics: false, influx: () => stats });
    let s = await series(m);
    assert.equal(value(s, 'plancton_influxdb_dropped_points_total', 'target="http://h:8086#d"'), 5);
    assert.equal(value(s, 'plancton_influxdb_queued_points', 'target="http://h:8086#d"'), 3);
    stats = {
      ...stats,
      targets: [{ target: 'http://h:8086#d', queued: 0, dropped: 7, written: 13, writeErrors: 2, failing: false }],
    };
    s = await series(m);
    assert.equal(value(s, 'plancton_influxdb_dropped_points_total', 'target="http://h:8086#d"'), 7);
    assert.equal(value(s, 'plancton_influxdb_written_points_total', 'target="http://h:8086#d"'), 13);
    assert.equal(value(s, 'plancton_influxdb_write_errors_total', 'target="http://h:8086#d"'), 2);
    assert.equal(value(s, 'plancton_influxdb_queued_points', 'target="http://h:8086#d"'), 0);
  });
});
