/** Tables for the rules that give the host back: owner CPU, hysteresis, pause/vacate, memory, backoff. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/core/decide.ts';
import type { Backoff, DecideInput, Pilot, PolicyState } from '../../../src/core/decision.ts';
import {
  basePolicy,
  input,
  kinds,
  NOW,
  pilot,
  S,
  type FlatPolicy,
  type InputOver,
} from '../../support/decide-fixtures.ts';

const owner: FlatPolicy = { ...basePolicy, cpuPolicy: 'owner', overloadHysteresisPct: 5 };
const withPolicy = (p: Partial<FlatPolicy>, rest: InputOver = {}): DecideInput =>
  input({ ...rest, policy: { ...owner, ...p } });
const paused = (n: number, ago = 100): Pilot => pilot(n, 'paused', ago);

describe('owner CPU policy', () => {
  // 8 CPUs, pilots of 1 CPU, max_docks 4
  it('busy pilots are not the owner: 4 busy pilots on an otherwise idle host are not an overload', () => {
    const four = [1, 2, 3, 4].map((n) => pilot(n));
    const d = decide(
      withPolicy({}, { busy: 50, pilots: four, pilotsBusyPct: 50, state: { overSince: NOW - 999 * S } }),
    );
    assert.equal(d.fit.ownerBusyPct, 0);
    assert.equal(d.fit.overloaded, false);
    assert.deepEqual(d.actions, []);
  });
  it('the same host under the 0.6 total rule is overloaded', () => {
    const four = [1, 2, 3, 4].map((n) => pilot(n));
    assert.equal(
      decide(withPolicy({ cpuPolicy: 'total' }, { busy: 90, pilots: four, pilotsBusyPct: 50 })).fit.overloaded,
      true,
    );
  });
  it('excess = owner + share - 100: boundary at the margin', () => {
    const four = [1, 2, 3, 4].map((n) => pilot(n)); // share 50%
    assert.equal(decide(withPolicy({}, { busy: 60, pilots: four, pilotsBusyPct: 0 })).fit.overloaded, false); // excess 10
    assert.equal(decide(withPolicy({}, { busy: 60.01, pilots: four, pilotsBusyPct: 0 })).fit.overloaded, true);
  });
  it('a host full of busy pilots still replaces one that ended (slots up to the overload line, less pilots holding one)', () => {
    const three = [1, 2, 3].map((n) => pilot(n));
    // 4 CPUs, owner 0%: floor((100 + 10 - 5) * 4 / 100) = 4 slots, 3 held -> the ended one is replaced
    const d = decide(
      withPolicy(
        { maxDocks: 8, docksPerLoop: 8 },
        { busy: 100, pilots: [...three, pilot(9, 'exited')], pilotsBusyPct: 100, ncpus: 4 },
      ),
    );
    assert.equal(d.fit.fitting, 1);
    assert.deepEqual(kinds(d.actions), ['remove:id9:exited', 'start:1']);
    // 8 CPUs, owner 0%: floor(105 * 8 / 100) = 8 slots - 3 held = 5
    const e = decide(withPolicy({ maxDocks: 8, docksPerLoop: 8 }, { busy: 37.5, pilots: three, pilotsBusyPct: 37.5 }));
    assert.equal(e.fit.fitting, 5);
    assert.equal(e.fit.toStart, 5);
  });
  it('a full host does not overload itself: pilots started by the owner rule stay under the line', () => {
    // 2 CPUs, 1-CPU pilots, owner 2%: floor((105 - 2) * 2 / 100) = 2 pilots; excess = 2 + 100 - 100 = 2 <= margin
    const d = decide(withPolicy({ maxDocks: 4, docksPerLoop: 4 }, { busy: 2, pilotsBusyPct: 0, ncpus: 2 }));
    assert.equal(d.fit.toStart, 2);
    const after = decide(
      withPolicy({ maxDocks: 4 }, { busy: 2, pilotsBusyPct: 0, ncpus: 2, pilots: [pilot(1), pilot(2)] }),
    );
    assert.equal(after.fit.overloaded, false);
    assert.equal(after.fit.toStart, 0);
  });
  it("Plancton's own CPU is not the owner's either", () => {
    assert.equal(
      decide(withPolicy({}, { busy: 30, pilots: [pilot(1)], pilotsBusyPct: 10, selfBusyPct: 5 })).fit.ownerBusyPct,
      15,
    );
    assert.equal(
      decide(withPolicy({}, { busy: 3, pilotsBusyPct: 0, selfBusyPct: 5 })).fit.ownerBusyPct,
      0,
      'never below 0',
    );
  });
  it('unknown pilot use counts as the owner (conservative)', () => {
    const d = decide(withPolicy({}, { busy: 70, pilots: [pilot(1)], pilotsBusyPct: undefined }));
    assert.equal(d.fit.ownerBusyPct, 70);
  });
});

describe("the overload margin on small hosts: at least half of one pilot's share (owner policy)", () => {
  // 2 CPUs, 1-CPU pilots: one pilot is 50 points, so the margin is 25 and the calm line 20 (hysteresis 5)
  const small = { maxDocks: 2, docksPerLoop: 2, pauseMaxMs: 120 * S };
  const one = [pilot(1)];
  const two = [pilot(1, 'running', 200), pilot(2, 'running', 100)];
  it("a second pilot starts with the owner's background load up to the calm line (20%), not at 9% (10-point margin)", () => {
    assert.equal(decide(withPolicy(small, { busy: 9, ncpus: 2, pilots: one, pilotsBusyPct: 0 })).fit.toStart, 1);
    assert.equal(decide(withPolicy(small, { busy: 20, ncpus: 2, pilots: one, pilotsBusyPct: 0 })).fit.toStart, 1);
    assert.equal(decide(withPolicy(small, { busy: 20.01, ncpus: 2, pilots: one, pilotsBusyPct: 0 })).fit.toStart, 0);
  });
  it('overloaded past the margin (25), over until the calm line (20): what a start allows never pauses', () => {
    const at = (busy: number, over: boolean) =>
      decide(
        withPolicy(small, { busy, ncpus: 2, pilots: two, pilotsBusyPct: 0, state: over ? { overSince: NOW - S } : {} }),
      ).fit.overloaded;
    assert.equal(at(25, false), false);
    assert.equal(at(25.01, false), true);
    assert.equal(at(20.01, true), true);
    assert.equal(at(20, true), false);
  });
  it('a paused pilot resumes at the calm line', () => {
    const pausedOne = [pilot(1, 'running', 200), paused(2)];
    const resumes = (busy: number) =>
      kinds(
        decide(
          withPolicy(small, {
            busy,
            ncpus: 2,
            pilots: pausedOne,
            pilotsBusyPct: 0,
            state: { pausedAt: { id2: NOW - S } },
          }),
        ).actions,
      );
    assert.deepEqual(resumes(20), ['unpause']);
    assert.deepEqual(resumes(20.01), []);
  });
  it('the 10-point margin stands where half a pilot is less (1-CPU pilots on 8 CPUs: 6.25), and under the 0.6 total rule', () => {
    const eight = [1, 2, 3, 4].map((n) => pilot(n)); // 8 CPUs, share 50%
    assert.equal(
      decide(withPolicy({ pauseMaxMs: 120 * S }, { busy: 60.01, pilots: eight, pilotsBusyPct: 0 })).fit.overloaded,
      true,
    );
    const total = (busy: number) =>
      decide(withPolicy({ ...small, cpuPolicy: 'total' }, { busy, ncpus: 2, pilots: one })).fit.overloaded;
    assert.equal(total(60), false);
    assert.equal(total(60.01), true);
  });
});

describe("readings disturbed by the daemon's own engine work", () => {
  // 2 CPUs, pilots of 0.05 CPU, max_docks 20: the fill-rate benchmark's host
  const fill = { maxDocks: 20, docksPerLoop: 4, cpusPerDock: 0.05, pauseMaxMs: 120 * S };
  const clean = { pct: 15, at: NOW - 2 * S };
  const sixteen = Array.from({ length: 16 }, (_, i) => pilot(i + 1)); // share 40%
  const four = sixteen.slice(0, 4);
  it('right after a batch of starts (share over 0.2), the owner is the last clean figure: the fill goes on', () => {
    // owner 15%: floor((105 - 15) * 2 / 5) - 16 = 20 fit; by the reading (86%) 0 would, and 86 + 40 - 100 is an overload
    const d = decide(
      withPolicy(fill, {
        busy: 86,
        ncpus: 2,
        pilots: sixteen,
        pilotsBusyPct: 0,
        ownWorkShare: 0.9,
        state: { owner: clean },
      }),
    );
    assert.equal(d.fit.ownerBusyPct, 15);
    assert.equal(d.fit.ownerDisturbed, true);
    assert.equal(d.fit.overloaded, false);
    assert.deepEqual(kinds(d.actions), ['start:4']);
    assert.deepEqual(d.state.owner, clean, 'a disturbed reading is not remembered');
  });
  it("the same reading with no own work behind it is the owner's: nothing fits and the youngest is paused", () => {
    const d = decide(
      withPolicy(fill, {
        busy: 86,
        ncpus: 2,
        pilots: sixteen,
        pilotsBusyPct: 0,
        ownWorkShare: 0,
        state: { owner: clean },
      }),
    );
    assert.equal(d.fit.ownerBusyPct, 86);
    assert.equal(d.fit.ownerDisturbed, false);
    assert.equal(d.fit.overloaded, true);
    assert.deepEqual(kinds(d.actions), ['pause']);
    assert.deepEqual(d.state.owner, { pct: 86, at: NOW }, 'a clean reading is remembered');
  });
  it('boundary: a share of exactly 0.2 is clean', () => {
    assert.equal(
      decide(withPolicy(fill, { busy: 86, ncpus: 2, pilotsBusyPct: 0, ownWorkShare: 0.2, state: { owner: clean } })).fit
        .ownerBusyPct,
      86,
    );
    assert.equal(
      decide(withPolicy(fill, { busy: 86, ncpus: 2, pilotsBusyPct: 0, ownWorkShare: 0.21, state: { owner: clean } }))
        .fit.ownerBusyPct,
      15,
    );
  });
  it('a disturbed reading lower than the clean figure counts at once (engine work only adds)', () => {
    const d = decide(
      withPolicy(fill, {
        busy: 5,
        ncpus: 2,
        pilotsBusyPct: 0,
        ownWorkShare: 1,
        state: { owner: { pct: 60, at: NOW - S } },
      }),
    );
    assert.equal(d.fit.ownerBusyPct, 5);
  });
  it('a clean figure older than 60 s no longer stands in: the disturbed reading counts as it is (boundary at 60 s)', () => {
    const at = (ago: number) =>
      decide(
        withPolicy(fill, {
          busy: 86,
          ncpus: 2,
          pilotsBusyPct: 0,
          ownWorkShare: 1,
          state: { owner: { pct: 15, at: NOW - ago } },
        }),
      ).fit.ownerBusyPct;
    assert.equal(at(60 * S), 15);
    assert.equal(at(60 * S + 1), 86);
  });
  it('without any clean figure yet, the disturbed reading counts as it is', () => {
    assert.equal(
      decide(withPolicy(fill, { busy: 86, ncpus: 2, pilotsBusyPct: 0, ownWorkShare: 1 })).fit.ownerBusyPct,
      86,
    );
  });
  it('an overload under way is neither ended nor extended by a disturbed reading: its clock keeps running', () => {
    const over = { overSince: NOW - 50 * S, owner: { pct: 90, at: NOW - 10 * S } };
    const d = decide(
      withPolicy(
        { ...fill, pauseMaxMs: 0, graceKillMs: 120 * S },
        { busy: 95, ncpus: 2, pilots: sixteen, pilotsBusyPct: 0, ownWorkShare: 0.5, state: over },
      ),
    );
    assert.equal(d.fit.overloaded, true);
    assert.equal(d.state.overSince, NOW - 50 * S);
  });
  it('the 0.6 total rule reads busy as it is, disturbed or not', () => {
    const d = decide(
      withPolicy(
        { ...fill, cpuPolicy: 'total' },
        { busy: 86, ncpus: 2, pilots: four, ownWorkShare: 1, state: { owner: clean } },
      ),
    );
    assert.equal(d.fit.overloaded, true);
    assert.equal(d.fit.fitting, 5, 'floor((100 - 86) * 0.95 * 2 / 5), where the clean owner figure would fit 36');
  });
});

describe('hysteresis', () => {
  const two = [pilot(1, 'running', 200), pilot(2, 'running', 100)]; // share 25%
  const at = (busy: number, wasOver: boolean) =>
    decide(
      withPolicy(
        { cpuPolicy: 'total', graceKillMs: 600 * S },
        { busy, pilots: two, state: wasOver ? { overSince: NOW - S } : {} },
      ),
    ).fit.overloaded;
  it('enters only above margin (35% here)', () => {
    assert.equal(at(35, false), false);
    assert.equal(at(35.1, false), true);
  });
  it('stays over until below margin - hysteresis (30% here)', () => {
    assert.equal(at(32, true), true);
    assert.equal(at(30.01, true), true);
    assert.equal(at(30, true), false);
  });
});

describe('pause, resume, vacate', () => {
  const pol = { pauseMaxMs: 120 * S };
  const three = [pilot(1, 'running', 300), pilot(2, 'running', 200), pilot(3, 'running', 100)]; // share 37.5%
  it('an owner spike pauses the youngest pilot at once (no grace), one per iteration, and starts nothing', () => {
    const d = decide(withPolicy(pol, { busy: 80, pilots: three, pilotsBusyPct: 0 }));
    assert.deepEqual(kinds(d.actions), ['pause']);
    assert.equal(d.actions[0]?.kind === 'pause' && d.actions[0].id, 'id3');
    assert.deepEqual(d.state.pausedAt, { id3: NOW });
  });
  it('paused pilots do not count in the share, so the overload can end', () => {
    const ps = [pilot(1, 'running', 300), paused(2), paused(3)];
    const d = decide(
      withPolicy(pol, {
        busy: 80,
        pilots: ps,
        pilotsBusyPct: 0,
        state: { overSince: NOW - 10 * S, pausedAt: { id2: NOW - 5 * S, id3: NOW - 9 * S } },
      }),
    );
    assert.equal(d.fit.pilotSharePct, 12.5);
    assert.equal(d.fit.overloaded, false, '80 + 12.5 - 100 = -7.5 is under margin - hysteresis');
    assert.ok(!kinds(d.actions).includes('pause'));
  });
  it('resumes the pilot paused first once the owner is idle again, one at a time, and keeps starts blocked meanwhile', () => {
    const ps = [pilot(1, 'running', 300), paused(2), paused(3)];
    const d = decide(
      withPolicy(pol, {
        busy: 10,
        pilots: ps,
        pilotsBusyPct: 5,
        state: { pausedAt: { id2: NOW - 5 * S, id3: NOW - 9 * S } },
      }),
    );
    assert.deepEqual(kinds(d.actions), ['unpause']);
    assert.equal(d.actions[0]?.kind === 'unpause' && d.actions[0].id, 'id3');
    assert.equal(d.fit.blocked, 'paused-pilots');
    assert.deepEqual(d.state.pausedAt, { id2: NOW - 5 * S });
  });
  it('does not resume when that pilot would tip the host over again', () => {
    const ps = [pilot(1, 'running', 300), paused(2)];
    // owner 70%, share with 2 active = 25% -> excess -5 > margin 10 - hysteresis 5 = 5? no: -5 <= 5 -> resume
    assert.deepEqual(
      kinds(
        decide(withPolicy(pol, { busy: 70, pilots: ps, pilotsBusyPct: 0, state: { pausedAt: { id2: NOW } } })).actions,
      ),
      ['unpause'],
    );
    // owner 82%: 82 + 25 - 100 = 7 > 5 -> keep it paused
    assert.deepEqual(
      kinds(
        decide(withPolicy(pol, { busy: 82, pilots: ps, pilotsBusyPct: 0, state: { pausedAt: { id2: NOW } } })).actions,
      ),
      [],
    );
  });
  it('vacates a pilot paused for pause_max (boundary), gracefully', () => {
    const ps = [paused(2), paused(3)];
    const d = decide(
      withPolicy(pol, {
        busy: 100,
        pilots: ps,
        pilotsBusyPct: 0,
        state: { overSince: NOW - 500 * S, pausedAt: { id2: NOW - 120 * S, id3: NOW - 119.999 * S } },
      }),
    );
    assert.deepEqual(kinds(d.actions), ['remove:id2:pause-timeout']);
    assert.equal(d.actions[0]?.kind === 'remove' && d.actions[0].stopFirst, true);
  });
  it('a paused pilot found at start (adopted) gets its pause clock started now', () => {
    const d = decide(withPolicy(pol, { busy: 100, pilots: [paused(2)], pilotsBusyPct: 0, state: {} }));
    assert.deepEqual(d.state.pausedAt, { id2: NOW });
  });
  it('pause_max 0: no pausing; vacate the youngest after grace_kill', () => {
    const d = decide(
      withPolicy(
        { pauseMaxMs: 0 },
        { busy: 100, pilots: three, pilotsBusyPct: 0, state: { overSince: NOW - 120 * S } },
      ),
    );
    assert.deepEqual(kinds(d.actions), ['remove:id3:overload']);
  });
});

describe('memory pressure', () => {
  const mem = (availableBytes: number, psi?: number): Partial<Omit<DecideInput, 'policy'>> => ({
    host: {
      at: NOW,
      ncpus: 8,
      cpu: { busyPct: 0, perCpuBusyPct: [], intervalSec: 1 },
      memory: { totalBytes: 16e9, availableBytes, swapTotalBytes: 0, swapFreeBytes: 0 },
      pressure: psi === undefined ? undefined : { memory: { some: { avg10: psi, avg60: 0, avg300: 0, total: 0 } } },
    },
  });
  const two = [pilot(1, 'running', 200), pilot(2, 'running', 100)];
  const pol = { memFloorBytes: 1e9, psiMemoryPct: 20, memoryStopTimeoutSec: 0 };
  it('under the floor: removes the youngest at once with the memory grace, and starts nothing', () => {
    const d = decide({ ...withPolicy(pol, { pilots: two }), ...mem(0.99e9) });
    assert.deepEqual(kinds(d.actions), ['remove:id2:memory']);
    assert.equal(d.actions[0]?.kind === 'remove' && d.actions[0].graceSec, 0);
    assert.equal(d.fit.blocked, 'memory-pressure');
    assert.equal(d.state.memoryLow, true);
  });
  it('at the floor exactly: nothing to free', () => {
    assert.deepEqual(
      kinds(decide({ ...withPolicy(pol, { pilots: two }), ...mem(1e9) }).actions).filter((k) => k.includes('memory')),
      [],
    );
  });
  it('PSI memory over its threshold frees memory too', () => {
    assert.deepEqual(kinds(decide({ ...withPolicy(pol, { pilots: two }), ...mem(8e9, 20.5) }).actions), [
      'remove:id2:memory',
    ]);
  });
  it('hysteresis: after a shortage, no start until 1.25 x the floor', () => {
    const low = { ...withPolicy(pol, { pilots: two, state: { memoryLow: true } }) };
    const d = decide({ ...low, ...mem(1.2e9) });
    assert.deepEqual(d.actions, []);
    assert.equal(d.fit.blocked, 'memory-pressure');
    const e = decide({ ...low, ...mem(1.25e9) });
    assert.equal(e.state.memoryLow, false);
    assert.deepEqual(kinds(e.actions), ['start:2']);
  });
  it('a floor close to all of memory still has a reachable recovery line (halfway to the total)', () => {
    const high = {
      ...withPolicy({ ...pol, memFloorBytes: 15e9, psiMemoryPct: 0 }, { pilots: two, state: { memoryLow: true } }),
    };
    assert.equal(decide({ ...high, ...mem(15.49e9) }).state.memoryLow, true);
    assert.equal(decide({ ...high, ...mem(15.5e9) }).state.memoryLow, false);
  });
  describe('how many go in one pass: the youngest, until their memory covers what is missing to the floor', () => {
    const three = [pilot(1, 'running', 300), pilot(2, 'running', 200), pilot(3, 'running', 100)];
    const usage = (gb: Record<string, number>): Partial<Omit<DecideInput, 'policy'>> => ({
      pilotMemoryBytes: new Map(Object.entries(gb).map(([id, g]) => [id, g * 1e9])),
    });
    /** The memory removals with MemAvailable `available` GB under a floor of `floor` GB. */
    const memoryRemovals = (
      extra: Partial<Omit<DecideInput, 'policy'>>,
      floor: number,
      available: number,
      psi?: number,
    ): string[] =>
      kinds(
        decide({
          ...withPolicy({ ...pol, memFloorBytes: floor * 1e9 }, { pilots: three }),
          ...mem(available * 1e9, psi),
          ...extra,
        }).actions,
      ).filter((k) => k.endsWith(':memory'));
    it('1.5 GB missing, 1 GB each: the two youngest', () => {
      assert.deepEqual(memoryRemovals(usage({ id1: 1, id2: 1, id3: 1 }), 2, 0.5), [
        'remove:id3:memory',
        'remove:id2:memory',
      ]);
    });
    it('the youngest covers it exactly: it alone', () => {
      assert.deepEqual(memoryRemovals(usage({ id1: 1, id2: 1, id3: 0.5 }), 1, 0.5), ['remove:id3:memory']);
    });
    it('more missing than all the pilots hold: all of them', () => {
      assert.deepEqual(memoryRemovals(usage({ id1: 1, id2: 1, id3: 1 }), 6, 0.5), [
        'remove:id3:memory',
        'remove:id2:memory',
        'remove:id1:memory',
      ]);
    });
    it('a pilot without a figure ends the list; with none known, one a pass as before', () => {
      assert.deepEqual(memoryRemovals(usage({ id1: 1, id3: 0.1 }), 2, 0.5), ['remove:id3:memory', 'remove:id2:memory']);
      assert.deepEqual(memoryRemovals({}, 6, 0.5), ['remove:id3:memory']);
    });
    it('PSI over its threshold with memory above the floor: no amount to cover, one a pass', () => {
      assert.deepEqual(memoryRemovals(usage({ id1: 1, id2: 1, id3: 1 }), 1, 8, 25), ['remove:id3:memory']);
    });
  });
  it('floor 0 and PSI 0: off', () => {
    assert.deepEqual(
      kinds(decide({ ...withPolicy({ memFloorBytes: 0, psiMemoryPct: 0 }, { pilots: two }), ...mem(1, 99) }).actions),
      ['start:2'],
    );
  });
});

describe('backoff after pilots that found no work (the pilot contract)', () => {
  /** The state of the one pool, `default`, with `backoff`. */
  const inPool = (backoff: Backoff): PolicyState => ({ pools: { default: { backoff } } });
  const ended = (n: number, exitCode: number, upSec: number): Pilot => ({
    ...pilot(n, 'exited'),
    startedAt: NOW - (upSec + 1) * S,
    finishedAt: NOW - S,
    exitCode,
  });
  const pol = { noWorkUptimeMs: 10 * S, backoffBaseMs: 10 * S, backoffMaxMs: 600 * S };
  it('exit code 75 starts a backoff of base x (0.5 + 0.5 jitter) and blocks starts', () => {
    const d = decide(withPolicy(pol, { pilots: [ended(1, 75, 100)], jitter: 0 }));
    assert.deepEqual(d.state.pools?.default?.backoff, { level: 1, until: NOW + 5 * S, since: NOW });
    assert.equal(d.fit.blocked, 'backoff');
    const full = decide(withPolicy(pol, { pilots: [ended(1, 75, 100)], jitter: 0.999999 }));
    assert.ok(
      (full.state.pools?.default?.backoff?.until ?? 0) < NOW + 10 * S &&
        (full.state.pools?.default?.backoff?.until ?? 0) > NOW + 9.99 * S,
    );
  });
  it('an exit within no_work_uptime counts as no work, whatever the code; at the boundary it does not', () => {
    assert.equal(decide(withPolicy(pol, { pilots: [ended(1, 0, 9.999)] })).state.pools?.default?.backoff?.level, 1);
    assert.equal(decide(withPolicy(pol, { pilots: [ended(1, 1, 9.999)] })).state.pools?.default?.backoff?.level, 1);
    assert.equal(decide(withPolicy(pol, { pilots: [ended(1, 0, 10)] })).state.pools?.default?.backoff, undefined);
  });
  it('doubles per round up to the cap', () => {
    const since = NOW - 999 * S;
    const at = (level: number) =>
      decide(withPolicy(pol, { pilots: [ended(1, 75, 100)], jitter: 1, state: inPool({ level, until: 0, since }) }))
        .state.pools?.default?.backoff;
    assert.deepEqual(at(1), { level: 2, until: NOW + 20 * S, since });
    assert.deepEqual(at(5), { level: 6, until: NOW + 320 * S, since });
    assert.deepEqual(at(6), { level: 7, until: NOW + 600 * S, since });
    assert.deepEqual(at(20), { level: 21, until: NOW + 600 * S, since });
  });
  it('after the wait, probes with one pilot at a time: a new probe only once the last has ended', () => {
    const backoff = { level: 3, until: NOW, since: NOW - 100 * S };
    assert.deepEqual(kinds(decide(withPolicy(pol, { state: inPool(backoff) })).actions), ['start:1']);
    const probe = pilot(7, 'running', 30); // started after `since`
    const d = decide(withPolicy(pol, { pilots: [probe], state: inPool(backoff) }));
    assert.deepEqual(d.actions, []);
    const veteran = pilot(8, 'running', 500); // started before the backoff: not a probe
    assert.deepEqual(kinds(decide(withPolicy(pol, { pilots: [veteran], state: inPool(backoff) })).actions), [
      'start:1',
    ]);
  });
  it('a probe still running after backoff_max found lasting work: the backoff ends', () => {
    const backoff = { level: 3, until: NOW, since: NOW - 2000 * S };
    const longProbe = pilot(7, 'running', 600); // 600 s = backoff_max
    const d = decide(withPolicy(pol, { pilots: [longProbe], state: inPool(backoff) }));
    assert.equal(d.state.pools?.default?.backoff, undefined);
    assert.deepEqual(kinds(d.actions), ['start:3'], 'every free slot at once');
    const young = decide(withPolicy(pol, { pilots: [pilot(7, 'running', 599)], state: inPool(backoff) }));
    assert.deepEqual(young.state.pools?.default?.backoff, backoff);
  });
  it('one pilot that worked (exit 0 after no_work_uptime) ends the backoff at once', () => {
    const d = decide(
      withPolicy(pol, {
        pilots: [ended(1, 0, 500), ended(2, 75, 1)],
        state: inPool({ level: 4, until: NOW + 100 * S, since: NOW - 50 * S }),
      }),
    );
    assert.equal(d.state.pools?.default?.backoff, undefined);
    assert.deepEqual(kinds(d.actions), ['remove:id1:exited', 'remove:id2:exited', 'start:4']);
  });
  it('a failure after a long run is neutral', () => {
    const d = decide(
      withPolicy(pol, {
        pilots: [ended(1, 1, 500)],
        state: inPool({ level: 2, until: NOW - S, since: NOW - 9 * S }),
      }),
    );
    assert.deepEqual(d.state.pools?.default?.backoff, { level: 2, until: NOW - S, since: NOW - 9 * S });
  });
});
