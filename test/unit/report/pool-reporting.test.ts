/** The pools in what Plancton reports: status lines and rows, /metrics (label pool), InfluxDB (series pool). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PoolFit } from '../../../src/core/decision.ts';
import { iterationPoints, SERIES } from '../../../src/report/influx-points.ts';
import { PlanctonMetrics } from '../../../src/report/metrics.ts';
import { formatStatus, pilotRows, poolSummary, type StatusReport } from '../../../src/report/status.ts';
import { sampleHost, sampleReport, T0 } from '../../support/sample-report.ts';

const fit = (name: string, over: Partial<PoolFit> = {}): PoolFit => ({
  name,
  share: 1,
  running: 0,
  cpus: 0,
  fitting: 0,
  room: 0,
  maxDocks: 4,
  toStart: 0,
  backoffLevel: 0,
  ...over,
});

/** A report of two pools: htcondor with two pilots (one made before pools), workqueue backing off. */
function twoPools(): StatusReport {
  const base = sampleReport();
  const pilots = pilotRows(
    [
      {
        id: 'a'.repeat(64),
        name: 'plancton-worker-aaaaaa',
        pilotId: 'aaaaaa',
        state: 'running',
        image: 'i',
        configHash: 'h',
        createdAt: T0,
        pool: 'htcondor',
      },
      {
        id: 'b'.repeat(64),
        name: 'plancton-worker-bbbbbb',
        pilotId: 'bbbbbb',
        state: 'running',
        image: 'i',
        configHash: 'h',
        createdAt: T0,
      },
    ],
    new Map([
      ['a'.repeat(64), 80],
      ['b'.repeat(64), 40],
    ]),
    new Map(),
    'htcondor',
  );
  const fits = [
    fit('htcondor', { share: 70, running: 2, cpus: 2, room: 2, fitting: 1, toStart: 1 }),
    fit('workqueue', { share: 30, blocked: 'backoff', backoffLevel: 2 }),
  ];
  const pools = poolSummary(
    [
      { name: 'htcondor', share: 70, image: 'htc:1', hash: 'h1' },
      { name: 'workqueue', share: 30, image: 'wq:1', hash: 'h2' },
    ],
    fits,
    pilots,
  );
  return { ...base, pilots, pools, fit: base.fit ? { ...base.fit, pools: fits } : undefined };
}

describe('pools in status', () => {
  it('each pilot row names its pool (no label: the first pool); each pool sums its own pilots', () => {
    const r = twoPools();
    assert.deepEqual(
      r.pilots.map((p) => p.pool),
      ['htcondor', 'htcondor'],
    );
    assert.deepEqual(
      r.pools?.map((p) => [p.name, p.pilots, p.cpus, p.cpuPct, p.toStart, p.blocked ?? '-', p.backoffLevel]),
      [
        ['htcondor', 2, 2, 120, 1, '-', 0],
        ['workqueue', 0, 0, 0, 0, 'backoff', 2],
      ],
    );
  });

  it('plancton status shows a line per pool and the POOL column', () => {
    const text = formatStatus(twoPools(), T0 + 100_000, true);
    assert.match(text, /^pool: {5}htcondor \(share 70, htc:1\): 2 of max 4, 2 CPUs allotted, using 120\.0% of a CPU$/m);
    assert.match(
      text,
      /^pool: {5}workqueue \(share 30, wq:1\): 0 of max 4, 0 CPUs allotted.*backing off \(level 2\); not starting: backoff$/m,
    );
    assert.match(text, /ID +NAME +STATE +AGE +CPU +MEM +POOL/);
  });
});

describe('pools in /metrics and InfluxDB', () => {
  it('plancton_pool_* carry the pool label; a pool gone from the report loses its series', async () => {
    const m = new PlanctonMetrics({
      identity: { instance: 'i', hostname: 'node1', version: 'v' },
      processMetrics: false,
    });
    m.iteration(twoPools(), sampleHost());
    const text = await m.registry.metrics();
    assert.match(text, /^plancton_pool_pilots\{pool="htcondor",hostname="node1"\} 2$/m);
    assert.match(text, /^plancton_pool_share\{pool="workqueue",hostname="node1"\} 30$/m);
    assert.match(text, /^plancton_pool_cpu_percent\{pool="htcondor",hostname="node1"\} 120$/m);
    assert.match(text, /^plancton_pool_backoff_level\{pool="workqueue",hostname="node1"\} 2$/m);
    assert.match(text, /^plancton_pool_decision_blocked\{pool="workqueue",reason="backoff",hostname="node1"\} 1$/m);
    assert.match(text, /^plancton_pool_decision_pilots\{pool="htcondor",kind="to_start",hostname="node1"\} 1$/m);
    const r = twoPools();
    m.iteration({ ...r, pools: r.pools?.slice(0, 1) }, sampleHost());
    assert.doesNotMatch(await m.registry.metrics(), /pool="workqueue"/);
    await m.close();
  });

  it('one pool point per pool, tagged pool, with the listed fields only', () => {
    const points = iterationPoints(twoPools(), sampleHost()).filter((p) => p.measurement === 'pool');
    assert.deepEqual(
      points.map((p) => [p.tags, p.fields]),
      [
        [
          { hostname: 'node1', pool: 'htcondor' },
          { share: 70, pilots: 2, max_docks: 4, cpus: 2, cpu_pct: 120, to_start: 1, blocked: 'none', backoff_level: 0 },
        ],
        [
          { hostname: 'node1', pool: 'workqueue' },
          {
            share: 30,
            pilots: 0,
            max_docks: 4,
            cpus: 0,
            cpu_pct: 0,
            to_start: 0,
            blocked: 'backoff',
            backoff_level: 2,
          },
        ],
      ],
    );
    for (const p of points) for (const f of Object.keys(p.fields)) assert.ok(SERIES.pool.fields.includes(f as never));
  });
});
