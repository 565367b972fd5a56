import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  iterationPoints,
  nanoTimestamp,
  removalPoints,
  SERIES,
  type Point,
} from '../../../src/report/influx-points.ts';
import { cpuSplit } from '../../../src/report/status.ts';
import { sampleHost, sampleRemoval, sampleReport, T0 } from '../../support/sample-report.ts';

const byName = (points: Point[], m: string): Point[] => points.filter((p) => p.measurement === m);
const one = (points: Point[], m: string): Point => {
  const found = byName(points, m);
  assert.equal(found.length, 1, `one ${m} point`);
  return found[0] as Point;
};

/** Every point names a listed series and only its listed tags and fields. */
function conforms(points: Point[]): void {
  for (const p of points) {
    const s = (SERIES as Record<string, { tags: readonly string[]; fields: readonly string[] }>)[p.measurement];
    assert.ok(s, `series ${p.measurement} is listed`);
    assert.deepEqual(Object.keys(p.tags).sort(), [...s.tags].sort(), `tags of ${p.measurement}`);
    for (const f of Object.keys(p.fields)) assert.ok(s.fields.includes(f), `field ${p.measurement}.${f} is listed`);
    for (const v of Object.values(p.fields)) if (typeof v === 'number') assert.ok(Number.isFinite(v));
    for (const v of Object.values(p.tags)) assert.notEqual(v, '', 'no empty tag value');
    assert.match(p.timestamp, /^\d{19}$/);
  }
}

describe('InfluxDB points: 0.6 series', () => {
  const points = iterationPoints(sampleReport(), sampleHost());

  it('daemon: tag hostname; fields uptime (s), containers (running pilots), status', () => {
    const d = one(points, 'daemon');
    assert.deepEqual(d.tags, { hostname: 'node1' });
    assert.deepEqual(d.fields, { uptime: 90, containers: 2, status: 'active' });
    assert.equal(d.timestamp, `${T0 + 90_000}000000`);
  });

  it('measurement: tag hostname; field cpu_eff (percent busy)', () => {
    const m = one(points, 'measurement');
    assert.deepEqual(m.tags, { hostname: 'node1' });
    assert.deepEqual(m.fields, { cpu_eff: 60 });
  });

  it('daemon while the engine is unreachable: status waiting, and no containers count (as 0.6)', () => {
    const p = iterationPoints(
      sampleReport({ state: 'waiting', engine: { reachable: false, error: 'connect ENOENT' }, pilots: [] }),
      undefined,
    );
    assert.deepEqual(one(p, 'daemon').fields, { uptime: 90, status: 'waiting' });
  });

  it('draining and stopping are reported as such', () => {
    assert.equal(
      one(iterationPoints(sampleReport({ state: 'draining' }), undefined), 'daemon').fields.status,
      'draining',
    );
    assert.equal(
      one(iterationPoints(sampleReport({ state: 'stopping' }), undefined), 'daemon').fields.status,
      'stopping',
    );
  });

  it('no measurement point before the first CPU figure', () => {
    const p = iterationPoints(sampleReport({ host: { ncpus: 4, memAvailableBytes: 1, memTotalBytes: 2 } }), undefined);
    assert.equal(byName(p, 'measurement').length, 0);
    assert.equal(byName(p, 'host_cpu').length, 0);
  });

  it('container: tags hostname, started, killed as 0.6 wrote them (True/False); field uptime', () => {
    const exited = removalPoints(sampleRemoval(), 'node1');
    const c = one(exited, 'container');
    assert.deepEqual(c.tags, { hostname: 'node1', started: 'True', killed: 'False' });
    assert.deepEqual(c.fields, { uptime: 600 });
    const killed = one(
      removalPoints(sampleRemoval({ reason: 'ttl', killed: true, exitCode: 137 }), 'node1'),
      'container',
    );
    assert.deepEqual(killed.tags, { hostname: 'node1', started: 'True', killed: 'True' });
    const never = one(
      removalPoints(
        sampleRemoval({
          reason: 'never-started',
          started: false,
          uptimeSec: undefined,
          startedAt: undefined,
          exitCode: undefined,
        }),
        'node1',
      ),
      'container',
    );
    assert.deepEqual(never.tags, { hostname: 'node1', started: 'False', killed: 'False' });
    assert.deepEqual(never.fields, { uptime: 0 });
  });
});

describe('InfluxDB points: richer series', () => {
  const points = iterationPoints(sampleReport(), sampleHost(), { queued: 5, dropped: 2 });

  it('every point conforms to the SERIES list', () => {
    conforms(points);
    conforms(removalPoints(sampleRemoval(), 'node1'));
    conforms(
      iterationPoints(
        sampleReport({ state: 'waiting', engine: { reachable: false }, pilots: [], fit: undefined, host: undefined }),
        undefined,
      ),
    );
  });

  it('host_cpu splits busy into owner and pilots: pilots = sum(cpuPct) / ncpus', () => {
    // pilots 80 % + 40 % of one CPU on 4 CPUs = 30 % of the host; busy 60 -> owner 30, idle 40
    assert.deepEqual(one(points, 'host_cpu').fields, { busy: 60, owner: 30, pilots: 30, idle: 40, ncpus: 4 });
  });

  it('the owner part is floored at 0 when the pilots measured more than the host', () => {
    const r = sampleReport({ host: { ncpus: 1, cpuBusyPct: 50, memAvailableBytes: 1, memTotalBytes: 2 } });
    assert.deepEqual(cpuSplit(r), { busy: 50, owner: 0, pilots: 100, idle: 50 });
  });

  it('host_memory, host_pressure (one point per resource and kind present)', () => {
    assert.deepEqual(one(points, 'host_memory').fields, {
      available_bytes: 6e9,
      total_bytes: 8e9,
      swap_total_bytes: 2e9,
      swap_free_bytes: 1.5e9,
    });
    const psi = byName(points, 'host_pressure');
    assert.deepEqual(psi.map((p) => `${p.tags.resource}/${p.tags.kind}`).sort(), [
      'cpu/some',
      'memory/full',
      'memory/some',
    ]);
    const cpu = psi.find((p) => p.tags.resource === 'cpu');
    assert.deepEqual(cpu?.fields, { avg10: 1.5, avg60: 1, avg300: 0.5, total_us: 5_000_000 });
  });

  it('pilot_cpu per pilot with a figure, tagged by name', () => {
    const pc = byName(points, 'pilot_cpu');
    assert.deepEqual(
      pc.map((p) => [p.tags.pilot, p.fields.cpu_pct, p.fields.state]),
      [
        ['plancton-worker-aaaaaa', 80, 'running'],
        ['plancton-worker-bbbbbb', 40, 'running'],
      ],
    );
  });

  it('decision: fitting, room, to_start, blocked reason', () => {
    assert.deepEqual(one(points, 'decision').fields, {
      running: 2,
      fitting: 1,
      room: 4,
      to_start: 1,
      blocked: 'none',
      pilot_share_pct: 50,
      overloaded: false,
      max_docks: 6,
      owner_busy_pct: 12,
      owner_disturbed: true,
    });
    const blocked = iterationPoints(
      sampleReport({
        fit: {
          running: 6,
          fitting: 0,
          room: 0,
          toStart: 0,
          blocked: 'max-docks',
          pilotSharePct: 100,
          overloaded: true,
        },
      }),
      undefined,
    );
    assert.equal(one(blocked, 'decision').fields.blocked, 'max-docks');
  });

  it("daemon_stats carries the writer's own queue and drop counts", () => {
    assert.deepEqual(one(points, 'daemon_stats').fields, {
      iterations: 7,
      removals_total: 3,
      engine_reachable: true,
      reload_ok: true,
      drain: false,
      influx_queued_points: 5,
      influx_dropped_points: 2,
    });
  });

  it('removal: reason as tag, exit code, OOM flag, pilot name and uptime as fields', () => {
    const r = one(
      removalPoints(sampleRemoval({ reason: 'overload', exitCode: 137, oomKilled: true, killed: true }), 'node1', 3),
      'removal',
    );
    assert.deepEqual(r.tags, { hostname: 'node1', reason: 'overload' });
    assert.deepEqual(r.fields, {
      pilot: 'plancton-worker-dddddd',
      id: 'd'.repeat(64),
      exit_code: 137,
      oom_killed: true,
      uptime: 600,
      started: true,
      killed: true,
    });
    assert.equal(r.timestamp, `${T0 + 600_000}000003`);
  });

  it('nanosecond timestamps keep same-millisecond events apart', () => {
    assert.equal(nanoTimestamp(1_700_000_000_123, 0), '1700000000123000000');
    assert.equal(nanoTimestamp(1_700_000_000_123, 42), '1700000000123000042');
    assert.equal(nanoTimestamp(1_700_000_000_123, 1_000_001), '1700000000123000001');
  });

  it('drops non-finite numbers instead of failing the batch', () => {
    const p = iterationPoints(
      sampleReport({ host: { ncpus: 4, cpuBusyPct: Number.NaN, memAvailableBytes: 1, memTotalBytes: 2 } }),
      undefined,
    );
    assert.equal(byName(p, 'measurement').length, 0);
  });
});
