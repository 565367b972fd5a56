import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide, pullDue } from '../../../src/core/decide.ts';
import { basePolicy as policy, input, kinds, NOW, pilot, S, type FlatPolicy } from '../../support/decide-fixtures.ts';
import type { DecideInput, Pilot } from '../../../src/core/decision.ts';

describe('decide: starting pilots (0.6 fit rule)', () => {
  // fitting = floor(idle * 0.95 * ncpus / (cpus_per_dock * 100)); start min(fitting, max_docks - running) in one pass
  // (docks_per_loop is how many of those starts the shell keeps in flight; 0 starts none)
  const cases: Array<{
    name: string;
    busy: number;
    ncpus: number;
    running: number;
    p?: Partial<FlatPolicy>;
    start: number;
    blocked?: string;
  }> = [
    {
      name: 'idle host: all that max_docks allows, whatever docks_per_loop (2 here)',
      busy: 0,
      ncpus: 8,
      running: 0,
      start: 4,
    },
    { name: 'capped by max_docks - running', busy: 0, ncpus: 8, running: 3, start: 1 },
    { name: 'at max_docks', busy: 0, ncpus: 8, running: 4, start: 0, blocked: 'max-docks' },
    {
      name: 'over max_docks (lowered by reload): no start, no kill',
      busy: 0,
      ncpus: 8,
      running: 6,
      start: 0,
      blocked: 'max-docks',
    },
    {
      name: 'capped by fitting: 1 CPU idle of 8 -> 0.95 fits 0',
      busy: 87.5,
      ncpus: 8,
      running: 0,
      start: 0,
      blocked: 'no-idle-cpu',
    },
    { name: 'fitting boundary: 2 idle CPUs of 8 fit 1 (1.9)', busy: 75, ncpus: 8, running: 0, start: 1 },
    {
      name: 'fractional cpus_per_dock 0.1 on 2 CPUs idle: 19 fit',
      busy: 0,
      ncpus: 2,
      running: 0,
      p: { cpusPerDock: 0.1, maxDocks: 30, docksPerLoop: 50 },
      start: 19,
    },
    { name: 'docks_per_loop 0 starts nothing', busy: 0, ncpus: 8, running: 0, p: { docksPerLoop: 0 }, start: 0 },
    {
      name: 'max_docks 0 starts nothing',
      busy: 0,
      ncpus: 8,
      running: 0,
      p: { maxDocks: 0 },
      start: 0,
      blocked: 'max-docks',
    },
    { name: 'fractional max_docks is floored', busy: 0, ncpus: 8, running: 0, p: { maxDocks: 1.7 }, start: 1 },
    {
      name: 'busy over 100 (rounding) never starts',
      busy: 100.4,
      ncpus: 8,
      running: 0,
      start: 0,
      blocked: 'no-idle-cpu',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const pilots = Array.from({ length: c.running }, (_, i) => pilot(i));
      const d = decide(input({ busy: c.busy, ncpus: c.ncpus, pilots, policy: { ...policy, ...c.p } }));
      assert.equal(d.fit.toStart, c.start);
      assert.deepEqual(
        kinds(d.actions).filter((k) => k.startsWith('start')),
        c.start ? [`start:${c.start}`] : [],
      );
      if (c.blocked) assert.equal(d.fit.blocked, c.blocked);
    });
  }

  it('no CPU reading yet (first sample): no start and no kill', () => {
    const d = decide(input({ busy: undefined, pilots: [pilot(1)], state: { overSince: NOW - 1000 * S } }));
    assert.deepEqual(d.actions, []);
    assert.equal(d.fit.blocked, 'no-cpu-sample');
    assert.equal(d.state.overSince, NOW - 1000 * S, 'the overload clock is neither advanced nor reset');
  });

  it('image missing: pull, and no start until it is present', () => {
    const d = decide(input({ images: { default: { name: 'busybox', present: false } } }));
    assert.deepEqual(kinds(d.actions), ['pull']);
    assert.equal(d.fit.blocked, 'image-missing');
  });

  it('paused and restarting pilots count as running', () => {
    const d = decide(input({ pilots: [pilot(1, 'paused'), pilot(2, 'restarting'), pilot(3)] }));
    assert.equal(d.fit.running, 3);
    assert.equal(d.fit.toStart, 1);
  });
});

describe('decide: grace_spawn after a kill', () => {
  const at = (sinceKillSec: number) => decide(input({ state: { lastKillAt: NOW - sinceKillSec * S } }));
  it('blocks starts just inside grace_spawn', () => {
    assert.equal(at(59.999).fit.blocked, 'grace-spawn');
    assert.equal(at(59.999).fit.toStart, 0);
  });
  it('allows starts at exactly grace_spawn', () => assert.equal(at(60).fit.toStart, 4));
});

describe('decide: overload (host over the pilots share by more than the margin for grace_kill)', () => {
  // 8 CPUs, 2 running pilots of 1 CPU: share = 25%; over when busy > 35%.
  const two = [pilot(1, 'running', 500), pilot(2, 'running', 100)];
  it('at share + margin exactly: not overloaded, clock reset', () => {
    const d = decide(input({ busy: 35, pilots: two, state: { overSince: NOW - 500 * S } }));
    assert.equal(d.fit.overloaded, false);
    assert.equal(d.state.overSince, undefined);
    assert.ok(!kinds(d.actions).some((k) => k.includes('overload')));
  });
  it('just over: starts the clock, kills nothing yet', () => {
    const d = decide(input({ busy: 35.01, pilots: two }));
    assert.equal(d.fit.overloaded, true);
    assert.equal(d.state.overSince, NOW);
    assert.ok(!kinds(d.actions).some((k) => k.includes('overload')));
  });
  it('over for less than grace_kill: no kill', () => {
    const d = decide(input({ busy: 90, pilots: two, state: { overSince: NOW - 119.999 * S } }));
    assert.ok(!kinds(d.actions).some((k) => k.includes('overload')));
    assert.equal(d.state.overSince, NOW - 119.999 * S);
  });
  it('over for grace_kill: removes the youngest pilot gracefully and remembers the kill', () => {
    const d = decide(input({ busy: 90, pilots: two, state: { overSince: NOW - 120 * S } }));
    assert.deepEqual(kinds(d.actions), ['remove:id2:overload']);
    assert.equal(d.actions[0]?.kind === 'remove' && d.actions[0].stopFirst, true);
    assert.equal(d.state.lastKillAt, NOW);
    assert.equal(d.fit.blocked, 'grace-spawn');
  });
  it('one kill per iteration even when far over', () => {
    const many = [pilot(1, 'running', 300), pilot(2, 'running', 200), pilot(3, 'running', 100)];
    const d = decide(input({ busy: 100, pilots: many, state: { overSince: NOW - 1000 * S } }));
    assert.deepEqual(kinds(d.actions), ['remove:id3:overload']);
  });
  it('keeps killing on later iterations while still over (clock not reset by a kill)', () => {
    const d = decide(
      input({ busy: 100, pilots: [pilot(1)], state: { overSince: NOW - 200 * S, lastKillAt: NOW - 30 * S } }),
    );
    assert.deepEqual(kinds(d.actions), ['remove:id1:overload']);
  });
  it('grace_kill 0 kills on the first reading over', () => {
    const d = decide(input({ busy: 100, pilots: two, policy: { ...policy, graceKillMs: 0 } }));
    assert.deepEqual(kinds(d.actions), ['remove:id2:overload']);
  });
  it('share uses min(running, max_docks): extra pilots do not raise the threshold', () => {
    // 6 running but max_docks 4 -> share 50%, over when > 60%.
    const six = Array.from({ length: 6 }, (_, i) => pilot(i, 'running', 100 + i));
    assert.equal(decide(input({ busy: 61, pilots: six })).fit.overloaded, true);
    assert.equal(decide(input({ busy: 59, pilots: six })).fit.overloaded, false);
  });
  it('with no pilot, an overloaded host only keeps the clock', () => {
    const d = decide(input({ busy: 100, state: { overSince: NOW - 500 * S } }));
    assert.equal(d.state.lastKillAt, undefined);
    assert.equal(d.fit.blocked, 'no-idle-cpu');
  });
  it('youngest is chosen by start time, not by list order or id', () => {
    const ps = [pilot(9, 'running', 50), pilot(1, 'running', 10), pilot(5, 'running', 30)];
    const d = decide(input({ busy: 100, pilots: ps, state: { overSince: NOW - 500 * S } }));
    assert.deepEqual(kinds(d.actions), ['remove:id1:overload']);
  });
});

describe('decide: clean-up and TTL', () => {
  it('removes exited, dead and never-started pilots without stopping them, and refills', () => {
    const d = decide(input({ pilots: [pilot(1, 'exited'), pilot(2, 'dead'), pilot(3, 'created'), pilot(4)] }));
    assert.deepEqual(kinds(d.actions), ['remove:id1:exited', 'remove:id2:dead', 'remove:id3:never-started', 'start:3']);
    assert.ok(d.actions.filter((a) => a.kind === 'remove').every((a) => a.kind === 'remove' && !a.stopFirst));
  });
  it('ignores pilots the engine is already removing, but counts them as present for exits', () => {
    const d = decide(
      input({ pilots: [pilot(1, 'removing')], controls: { drain: true, drainStop: true, forceStop: false } }),
    );
    assert.deepEqual(d.actions, []);
  });
  it('TTL boundary: exactly max_ttl stays, one ms more goes (stop first)', () => {
    const atTtl = pilot(1, 'running', 43200);
    const past: Pilot = { ...pilot(2), startedAt: NOW - 43200 * S - 1 };
    const d = decide(input({ pilots: [atTtl, past] }));
    assert.deepEqual(kinds(d.actions), ['remove:id2:ttl', 'start:3']);
    assert.equal(d.actions[0]?.kind === 'remove' && d.actions[0].stopFirst, true);
  });
  it('TTL removal frees room at once: the replacement starts in the same iteration', () => {
    const pilots = [pilot(1), pilot(2), pilot(3), { ...pilot(4), startedAt: NOW - 50000 * S }];
    const d = decide(input({ pilots }));
    assert.deepEqual(kinds(d.actions), ['remove:id4:ttl', 'start:1']);
  });
});

describe('decide: controls', () => {
  const ctl = (c: Partial<DecideInput['controls']>) => ({ drain: false, drainStop: false, forceStop: false, ...c });
  it('drain: no starts, no pulls, pilots keep running, status draining', () => {
    const d = decide(
      input({
        pilots: [pilot(1)],
        controls: ctl({ drain: true }),
        images: { default: { name: 'busybox', present: false } },
      }),
    );
    assert.deepEqual(d.actions, []);
    assert.equal(d.status, 'draining');
    assert.equal(d.fit.blocked, 'draining');
  });
  it('drain still cleans up exited pilots and enforces TTL and overload', () => {
    const d = decide(
      input({
        busy: 100,
        pilots: [pilot(1, 'exited'), { ...pilot(2), startedAt: NOW - 50000 * S }, pilot(3)],
        controls: ctl({ drain: true }),
        state: { overSince: NOW - 500 * S },
      }),
    );
    assert.deepEqual(kinds(d.actions), ['remove:id1:exited', 'remove:id2:ttl', 'remove:id3:overload']);
  });
  it('drain-stop: waits while pilots run', () => {
    const d = decide(input({ pilots: [pilot(1)], controls: ctl({ drainStop: true }) }));
    assert.deepEqual(d.actions, []);
    assert.equal(d.status, 'draining');
  });
  it('drain-stop: exits once no pilot is left', () => {
    assert.deepEqual(kinds(decide(input({ controls: ctl({ drainStop: true }) })).actions), ['exit']);
  });
  it('drain-stop: an exited pilot is removed first, the exit comes on the next iteration', () => {
    const d = decide(input({ pilots: [pilot(1, 'exited')], controls: ctl({ drainStop: true }) }));
    assert.deepEqual(kinds(d.actions), ['remove:id1:exited']);
  });
  it('force-stop: removes every pilot (running ones stopped first), no starts, status stopping', () => {
    const d = decide(
      input({ pilots: [pilot(1), pilot(2, 'paused'), pilot(3, 'exited')], controls: ctl({ forceStop: true }) }),
    );
    assert.deepEqual(kinds(d.actions), ['remove:id3:exited', 'remove:id1:force-stop', 'remove:id2:force-stop']);
    assert.equal(d.status, 'stopping');
  });
  it('force-stop: exits when none is left', () => {
    const d = decide(input({ controls: ctl({ forceStop: true, drainStop: true }) }));
    assert.deepEqual(d.actions, [{ kind: 'exit', reason: 'force-stop' }]);
  });
});

describe('pullDue', () => {
  const img = { name: 'busybox', present: true, lastPulledName: 'busybox', lastPullOkAt: NOW - 10 * S };
  it('not due while fresh', () => assert.equal(pullDue(img, policy, NOW), false));
  it('due when missing', () => assert.equal(pullDue({ ...img, present: false }, policy, NOW), true));
  it('due when docker_image changed', () => assert.equal(pullDue({ ...img, name: 'busybox:1.36' }, policy, NOW), true));
  it('due at exactly image_expiration', () =>
    assert.equal(pullDue({ ...img, lastPullOkAt: NOW - 43200 * S }, policy, NOW), true));
  it('not due just before image_expiration', () =>
    assert.equal(pullDue({ ...img, lastPullOkAt: NOW - 43199.999 * S }, policy, NOW), false));
  it('a failed attempt waits pull_retry', () => {
    const failed = { ...img, present: false, lastPullAttemptAt: NOW - 59 * S };
    assert.equal(pullDue(failed, policy, NOW), false);
    assert.equal(pullDue({ ...failed, lastPullAttemptAt: NOW - 60 * S }, policy, NOW), true);
  });
});
