/** Tables for pools sharing the host: shares, work conservation, the owner over all pools, max_docks, removal. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/core/decide.ts';
import { poolImages } from '../../../src/core/decide-inputs.ts';
import { settle } from '../../../src/core/settle.ts';
import { splitIdle } from '../../../src/core/rules/share.ts';
import type { Action, Decision, DecideInput, Pilot, PoolPolicy } from '../../../src/core/decision.ts';
import {
  basePolicy,
  baseShape,
  input,
  NOW,
  pilot,
  S,
  type FlatPolicy,
  type InputOver,
} from '../../support/decide-fixtures.ts';

// the owner rule on 10 CPUs with 1-CPU pilots: 100 + (10 - 5) = 105% -> 10 slots when the owner is idle
const owner: FlatPolicy = { ...basePolicy, cpuPolicy: 'owner', overloadHysteresisPct: 5, docksPerLoop: 4 };
/** A pool of `share`; `cpusPerDock` is its shape's. */
const pool = (
  name: string,
  share: number,
  { cpusPerDock = 1, ...over }: Partial<PoolPolicy> & { cpusPerDock?: number } = {},
): PoolPolicy => ({
  name,
  share,
  maxDocks: 10,
  shape: { ...baseShape, cpusPerDock },
  configHash: 'h',
  maxTtlMs: 43200 * S,
  stopTimeoutSec: 10,
  stopSignal: 'SIGTERM',
  stopCommand: [],
  backoffBaseMs: 10 * S,
  backoffMaxMs: 600 * S,
  noWorkUptimeMs: 10 * S,
  ...over,
});
const htc = pool('htcondor', 70, {
  stopTimeoutSec: 300,
  stopSignal: 'SIGQUIT',
  stopCommand: ['condor_off', '-peaceful'],
});
const wq = pool('workqueue', 30, { stopTimeoutSec: 20 });
const two: FlatPolicy = { ...owner, pools: [htc, wq] };

/** A pilot of `pool`, started `ago` seconds ago. */
const of = (pool: string, n: number, state: Pilot['state'] = 'running', ago = 100): Pilot => ({
  ...pilot(n, state, ago),
  id: `${pool}-${n}`,
  name: `plancton-worker-${pool}-${n}`,
  pool,
});
const many = (pool: string, count: number, from = 0): Pilot[] =>
  Array.from({ length: count }, (_, i) => of(pool, from + i, 'running', 1000 + from + i));
const at = (over: InputOver, policy: FlatPolicy = two): DecideInput =>
  input({ ncpus: 10, busy: 0, pilotsBusyPct: 0, ...over, policy });
const starts = (d: Decision): Record<string, number> =>
  Object.fromEntries(d.actions.flatMap((a: Action) => (a.kind === 'start' ? [[a.pool ?? '', a.count]] : [])));
const fitOf = (d: Decision, name: string) => d.fit.pools?.find((p) => p.name === name);

describe('pools: the idle CPU divided by share', () => {
  it('two pools of 70 and 30 fill an empty 10-CPU host with 7 and 3 pilots', () => {
    const d = decide(at({}));
    assert.deepEqual(starts(d), { htcondor: 7, workqueue: 3 });
    assert.equal(d.fit.toStart, 10);
    const start = d.actions.find((a) => a.kind === 'start' && a.pool === 'htcondor');
    assert.deepEqual(start?.kind === 'start' && [start.stopTimeoutSec, start.vacate], [
      300,
      { graceSec: 300, signal: 'SIGQUIT', command: ['condor_off', '-peaceful'] },
    ]);
  });

  it('a host already in its shares starts nothing; a pilot that ended is replaced in its own pool', () => {
    const full = [...many('htcondor', 7), ...many('workqueue', 3)];
    assert.deepEqual(starts(decide(at({ pilots: full }))), {});
    const oneEnded = [...many('htcondor', 7), ...many('workqueue', 2), of('workqueue', 9, 'exited', 50)];
    assert.deepEqual(starts(decide(at({ pilots: oneEnded }))), { workqueue: 1 });
  });

  it('shares are weights: 0.7 and 0.3 divide as 70 and 30; equal shares split evenly', () => {
    const d = decide(at({}, { ...owner, pools: [pool('a', 0.7), pool('b', 0.3)] }));
    assert.deepEqual(starts(d), { a: 7, b: 3 });
    assert.deepEqual(starts(decide(at({}, { ...owner, pools: [pool('a', 1), pool('b', 1)] }))), { a: 5, b: 5 });
  });

  it('the owner busy on 4 CPUs leaves 6 slots (the calm line): divided 70/30 as 4 and 2', () => {
    const d = decide(at({ busy: 40 }));
    assert.deepEqual(starts(d), { htcondor: 4, workqueue: 2 });
  });

  it("a pool's max_docks binds before its share: the other pool takes the rest", () => {
    const d = decide(at({}, { ...owner, pools: [{ ...htc, maxDocks: 2 }, wq] }));
    assert.deepEqual(starts(d), { htcondor: 2, workqueue: 8 });
    const full = decide(at({ pilots: many('htcondor', 2) }, { ...owner, pools: [{ ...htc, maxDocks: 2 }, wq] }));
    assert.equal(fitOf(full, 'htcondor')?.blocked, 'max-docks');
    assert.equal(fitOf(full, 'workqueue')?.toStart, 8);
  });

  it('pilots of different sizes: the CPUs (not the counts) follow the shares, and never exceed the idle CPU', () => {
    const d = decide(at({}, { ...owner, pools: [pool('big', 1, { cpusPerDock: 2 }), pool('small', 1)] }));
    const s = starts(d);
    assert.deepEqual(s, { big: 3, small: 4 });
    assert.ok((s.big ?? 0) * 2 + (s.small ?? 0) <= 10.5);
  });
});

describe('pools: work-conserving', () => {
  const backoff = { level: 2, until: NOW + 60 * S, since: NOW - 30 * S };

  it('a pool backing off leaves its share to the other, which may take the whole host', () => {
    const d = decide(at({ state: { pools: { workqueue: { backoff } } } }));
    assert.deepEqual(starts(d), { htcondor: 10 });
    assert.equal(fitOf(d, 'workqueue')?.blocked, 'backoff');
    assert.equal(fitOf(d, 'workqueue')?.backoffLevel, 2);
  });

  it("pilots that exit with the 'no work' code put their own pool in backoff, not the other", () => {
    const pilots = [...many('htcondor', 7), ...many('workqueue', 2), of('workqueue', 9, 'exited', 5)];
    const ended = pilots.map((p) => (p.id === 'workqueue-9' ? { ...p, exitCode: 75, finishedAt: NOW - S } : p));
    const d = decide(at({ pilots: ended }));
    assert.equal(d.state.pools?.workqueue?.backoff?.level, 1);
    assert.equal(d.state.pools?.htcondor?.backoff, undefined, "the first pool's backoff is untouched");
    assert.deepEqual(starts(d), { htcondor: 1 }, 'the ended pilot is replaced by one of the pool that has work');
  });

  it('after its wait the pool probes again, and takes the next CPU freed: it is the one furthest under its share', () => {
    const waited = { ...backoff, until: NOW - S };
    const fullHost = many('htcondor', 10);
    const d = decide(at({ pilots: fullHost, state: { pools: { workqueue: { backoff: waited } } } }));
    assert.deepEqual(starts(d), {}, 'no idle CPU: the probe waits');
    assert.equal(fitOf(d, 'workqueue')?.blocked, 'no-idle-cpu');
    const oneEnded = [...many('htcondor', 9), of('htcondor', 20, 'exited', 500)];
    const e = decide(at({ pilots: oneEnded, state: { pools: { workqueue: { backoff: waited } } } }));
    assert.deepEqual(starts(e), { workqueue: 1 }, 'one probe, into the freed CPU');
  });

  it('a pool with work again gets its share back as the other pool’s pilots end, none stopped for it', () => {
    // htcondor took all 10 while workqueue had no work; a workqueue probe worked: its backoff ends
    const worked = { ...of('workqueue', 1, 'exited', 100), exitCode: 0, finishedAt: NOW - S };
    const pilots = [...many('htcondor', 9), worked];
    const d = decide(at({ pilots, state: { pools: { workqueue: { backoff } } } }));
    assert.equal(d.state.pools, undefined, 'the backoff is over');
    assert.deepEqual(starts(d), { workqueue: 1 });
    assert.ok(!d.actions.some((a) => a.kind === 'remove' && a.id.startsWith('htcondor')), 'no htcondor pilot stopped');
    // as htcondor pilots end, workqueue takes the freed CPUs until it holds its 3
    const later = decide(at({ pilots: [...many('htcondor', 8), ...many('workqueue', 1, 50)] }));
    assert.deepEqual(starts(later), { workqueue: 1 });
    const balanced = decide(at({ pilots: [...many('htcondor', 6), ...many('workqueue', 3, 50)] }));
    assert.deepEqual(starts(balanced), { htcondor: 1 });
  });

  it('a pool whose image is missing leaves its share too, and its pull is asked for', () => {
    const images = {
      htcondor: { name: 'htc', present: true, lastPulledName: 'htc', lastPullOkAt: NOW - S },
      workqueue: { name: 'wq', present: false },
    };
    const d = decide(at({ images }));
    assert.deepEqual(
      d.actions.filter((a) => a.kind === 'pull'),
      [{ kind: 'pull', image: 'wq' }],
    );
    assert.deepEqual(starts(d), { htcondor: 10 });
    assert.equal(fitOf(d, 'workqueue')?.blocked, 'image-missing');
  });
});

describe('pools: the owner first, from every pool', () => {
  const pauses = { ...two, pauseMaxMs: 120 * S };
  // htcondor's pilots started 1000-1006 s ago, workqueue's 10-12 s ago: workqueue's are the youngest
  const full = [...many('htcondor', 7), ...[0, 1, 2].map((i) => of('workqueue', i, 'running', 10 + i))];

  it('the owner taking CPU pauses the youngest pilot, whatever its pool, one a pass', () => {
    const d = decide(at({ busy: 100, pilotsBusyPct: 40, pilots: full }, pauses));
    assert.deepEqual(
      d.actions.map((a) => a.kind === 'pause' && a.id),
      ['workqueue-0'],
    );
  });

  it('then the next youngest, across pools: the owner takes CPU from both', () => {
    const order: string[] = [];
    let pilots = full;
    let state: DecideInput['state'] = {};
    for (let pass = 0; pass < 5; pass++) {
      // the owner holds 60% throughout: over the line until no more than 5 pilots run
      const d = decide(at({ busy: 100, pilotsBusyPct: 40, pilots, state }, pauses));
      for (const a of d.actions) if (a.kind === 'pause') order.push(a.id);
      state = d.state;
      pilots = pilots.map((p) => (order.includes(p.id) ? { ...p, state: 'paused' } : p));
    }
    assert.deepEqual(order, ['workqueue-0', 'workqueue-1', 'workqueue-2', 'htcondor-0', 'htcondor-1']);
  });

  it('memory short: the youngest go first across pools', () => {
    const floor = { ...two, memFloorBytes: 100, memoryStopTimeoutSec: 0 };
    const d = decide({
      ...at({ pilots: full }, floor),
      host: {
        ...at({}).host,
        ncpus: 10,
        memory: { totalBytes: 1000, availableBytes: 50, swapTotalBytes: 0, swapFreeBytes: 0 },
      },
      pilotMemoryBytes: new Map(full.map((p) => [p.id, 20])),
    });
    const removed = d.actions.flatMap((a) => (a.kind === 'remove' ? [[a.id, a.reason, a.graceSec]] : []));
    assert.deepEqual(removed, [
      ['workqueue-0', 'memory', 0],
      ['workqueue-1', 'memory', 0],
      ['workqueue-2', 'memory', 0],
    ]);
  });

  it('a TTL is the pool’s own', () => {
    const policy = { ...owner, pools: [{ ...htc, maxTtlMs: 50 * S }, wq] };
    const d = decide(at({ pilots: [of('htcondor', 1, 'running', 60), of('workqueue', 1, 'running', 60)] }, policy));
    const removed = d.actions.flatMap((a) => (a.kind === 'remove' ? [[a.id, a.reason, a.graceSec]] : []));
    assert.deepEqual(removed, [['htcondor-1', 'ttl', 300]]);
  });
});

describe('pools: adoption and removal', () => {
  it('a pilot without a pool label belongs to the first pool; one of a pool no longer configured is drained with its own stop settings', () => {
    const legacy = pilot(1); // no pool label: made before pools
    const gone: Pilot = {
      ...of('old', 2),
      stop: { graceSec: 45, signal: 'SIGUSR1', command: ['/bin/drain'] },
    };
    const goneNoLabel = of('older', 3);
    const d = decide(at({ pilots: [legacy, gone, goneNoLabel] }));
    const removes = d.actions.flatMap((a) => (a.kind === 'remove' ? [a] : []));
    assert.deepEqual(
      removes.map((a) => [a.id, a.reason, a.stopFirst, a.vacate]),
      [
        ['old-2', 'pool-removed', true, { graceSec: 45, signal: 'SIGUSR1', command: ['/bin/drain'] }],
        // no readable stop label: the first pool's stop settings (there are no others beside the pools')
        ['older-3', 'pool-removed', true, { graceSec: 300, signal: 'SIGQUIT', command: ['condor_off', '-peaceful'] }],
      ],
    );
    assert.equal(fitOf(d, 'htcondor')?.running, 1, 'the unlabelled pilot counts in the first pool');
    assert.deepEqual(starts(d), { htcondor: 6, workqueue: 3 });
  });

  it('a configuration without pools is one pool, default: its pilots and the unlabelled ones are its own', () => {
    const d = decide(at({ pilots: [pilot(1), { ...pilot(2), pool: 'default' }] }, owner));
    assert.deepEqual(
      d.fit.pools?.map((p) => [p.name, p.running]),
      [['default', 2]],
    );
    assert.ok(!d.actions.some((a) => a.kind === 'remove'));
  });

  it('drain starts nothing in any pool, and leaves every pool’s pilots running', () => {
    const d = decide(
      at({ pilots: many('htcondor', 2), controls: { drain: true, drainStop: false, forceStop: false } }),
    );
    assert.deepEqual(starts(d), {});
    assert.deepEqual(
      d.fit.pools?.map((p) => p.blocked),
      ['draining', 'draining'],
    );
    assert.equal(d.fit.blocked, 'draining');
  });
});

describe('pools: the split itself', () => {
  it('is deterministic, bounded by the spare CPUs and by every limit', () => {
    const c = (share: number, limit = Infinity, heldCpus = 0, cpusPerDock = 1) => ({
      share,
      limit,
      heldCpus,
      cpusPerDock,
    });
    assert.deepEqual(splitIdle([c(70), c(30)], 10), [7, 3]);
    assert.deepEqual(splitIdle([c(70), c(30)], 0.99), [0, 0]);
    assert.deepEqual(splitIdle([c(70, 0), c(30)], 10), [0, 10]);
    assert.deepEqual(splitIdle([c(1, 1), c(1, 1)], 10), [1, 1]);
    assert.deepEqual(splitIdle([c(70, Infinity, 9), c(30)], 1), [0, 1], 'the one under its share first');
    assert.deepEqual(splitIdle([c(1), c(1)], 1), [1, 0], 'ties go to the earlier pool');
  });
});

describe('pools: image bookkeeping per pool', () => {
  it('each pool books its own image; a pull of a shared image books every pool that uses it', () => {
    const pools = { pools: two.pools ?? [], images: { htcondor: 'htc', workqueue: 'wq' } };
    const view = poolImages({}, pools, new Set(['htc']), NOW);
    assert.deepEqual(view.images.workqueue, { name: 'wq', present: false });
    assert.deepEqual(view.state, { pools: { htcondor: { image: { lastPulledName: 'htc', lastPullOkAt: NOW } } } });
    const d = decide(at({ images: view.images, state: view.state }));
    const ctx = { at: NOW + S, controls: input().controls, pilotsLeft: 0, mainMs: 30 * S, pools };
    const after = settle(d.state, d, { started: 0, removed: 0, pulls: { wq: true } }, ctx);
    assert.deepEqual(after.state.pools?.workqueue?.image, {
      lastPulledName: 'wq',
      lastPullOkAt: NOW + S,
      lastPullAttemptAt: NOW + S,
    });
    assert.deepEqual(after.state.pools?.htcondor?.image, { lastPulledName: 'htc', lastPullOkAt: NOW });
  });
});
