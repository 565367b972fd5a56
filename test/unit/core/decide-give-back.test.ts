/** Tables for the pace of the CPU rule: proportional pauses and resumes, the resume cooldown, and pilots that cannot be frozen. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/core/decide.ts';
import { CPU_RECHECK_MS, settle } from '../../../src/core/settle.ts';
import type { DecideInput, Pilot } from '../../../src/core/decision.ts';
import { PAUSE_TRIES } from '../../../src/core/rules/give-back.ts';
import {
  basePolicy,
  basePools,
  input,
  NOW,
  pilot,
  S,
  type FlatPolicy,
  type InputOver,
} from '../../support/decide-fixtures.ts';

// 64 CPUs, 63 1-CPU pilots (as in the issue), owner policy, margin 10, hysteresis 5: calm line 5
const policy: FlatPolicy = {
  ...basePolicy,
  cpuPolicy: 'owner',
  overloadHysteresisPct: 5,
  pauseMaxMs: 120 * S,
  maxDocks: 63,
  cpuPace: 'proportional',
  resumeCooldownMs: 15 * S,
};
// pilot n started n seconds ago: the lower n, the younger
const running = (count: number): Pilot[] => Array.from({ length: count }, (_, i) => pilot(i + 1, 'running', i + 1));
const at = (over: InputOver & { flat?: Partial<FlatPolicy> }): DecideInput => {
  const { flat, ...rest } = over;
  return input({ ncpus: 64, pilotsBusyPct: 0, ...rest, policy: { ...policy, ...flat } });
};
const paused = (d: ReturnType<typeof decide>): string[] => d.actions.flatMap((a) => (a.kind === 'pause' ? [a.id] : []));
const resumed = (d: ReturnType<typeof decide>): string[] =>
  d.actions.flatMap((a) => (a.kind === 'unpause' ? [a.id] : []));

describe('proportional give-back', () => {
  it('an owner taking half of a full 64-CPU host gets its excess covered in one pass, youngest first', () => {
    // owner 50%, share 63/64 = 98.4%: excess 48.4; down to the calm line 5 takes ceil(43.4 / 1.5625) = 28 pilots
    const d = decide(at({ busy: 50, pilots: running(63) }));
    assert.equal(d.fit.overloaded, true);
    assert.equal(paused(d).length, 28);
    assert.deepEqual(paused(d).slice(0, 3), ['id1', 'id2', 'id3'], 'youngest first');
    assert.equal(d.cpu?.paused, 28);
    assert.equal(d.cpu?.following, true, 'the next pass comes within half a second');
  });
  it("0.6's pace (cpu_pace one) pauses one per pass, and the total policy always does", () => {
    assert.equal(paused(decide(at({ busy: 50, pilots: running(63), flat: { cpuPace: 'one' } }))).length, 1);
    const total = decide(at({ busy: 100, pilots: running(40), flat: { cpuPolicy: 'total' } })); // excess 37.5
    assert.equal(paused(total).length, 1);
    assert.equal(total.cpu?.following, false, 'at main_sleep, as 0.6');
  });
  it('an owner needing all of it gets every running pilot paused, and no more', () => {
    // 8 CPUs, 4 running and one paused: owner 100 + share 50 - 100 = 50, more than all four cover
    const d = decide(at({ ncpus: 8, busy: 100, pilots: [...running(4), pilot(90, 'paused', 90)] }));
    assert.equal(paused(d).length, 4);
    assert.equal(d.cpu?.paused, 5);
  });
  it('a pass under the margin pauses nothing and does not follow', () => {
    const d = decide(at({ busy: 10, pilots: running(63) })); // excess 8.4 <= 10
    assert.deepEqual(paused(d), []);
    assert.equal(d.cpu?.following, false);
  });
});

describe('the CPU watch between passes', () => {
  it('draws the line the owner must pass to wake the loop: where the excess reaches the margin', () => {
    const d = decide(at({ busy: 0, pilots: running(63) }));
    // owner + 98.44 - 100 = 10 at an owner of 11.56%
    assert.ok(Math.abs((d.cpu?.wakeAbovePct ?? 0) - (10 + 100 - (63 * 100) / 64)) < 1e-9);
    assert.equal(decide(at({ busy: 0, pilots: running(63), flat: { cpuPace: 'one' } })).cpu?.wakeAbovePct, undefined);
  });
  it('and the pilots the pass starts: a fill of 8 on an idle 8-CPU host leaves the owner 10 points', () => {
    const d = decide(at({ ncpus: 8, busy: 0, pilots: [], flat: { maxDocks: 8, docksPerLoop: 8 } }));
    assert.equal(d.fit.toStart, 8);
    assert.ok(Math.abs((d.cpu?.wakeAbovePct ?? 0) - 10) < 1e-9, `${d.cpu?.wakeAbovePct}`);
  });
  it('the line counts the pauses of the pass: after 28 pauses the owner has room up to 55.3%', () => {
    const d = decide(at({ busy: 50, pilots: running(63) }));
    assert.ok(Math.abs((d.cpu?.wakeAbovePct ?? 0) - (10 + 100 - (35 * 100) / 64)) < 1e-9);
  });
  it("its figure counts when higher than the pass's own (the owner rose since the interval began)", () => {
    const d = decide(at({ busy: 0, recentOwnerPct: 50, pilots: running(63) }));
    assert.equal(paused(d).length, 28);
    assert.equal(d.fit.ownerBusyPct, 50);
    const lower = decide(at({ busy: 50, recentOwnerPct: 0, pilots: running(63) }));
    assert.equal(paused(lower).length, 28, 'a lower one does not hide the pass figure');
    const total = decide(at({ busy: 0, recentOwnerPct: 90, pilots: running(40), flat: { cpuPolicy: 'total' } }));
    assert.equal(paused(total).length, 0, 'the total policy reads busy over its own interval only');
  });
});

describe('resume after the cooldown', () => {
  const half = (): Pilot[] => [
    ...running(35),
    ...Array.from({ length: 28 }, (_, i) => pilot(100 + i, 'paused', 100 + i)),
  ];
  const pausedAt = Object.fromEntries(Array.from({ length: 28 }, (_, i) => [`id${100 + i}`, NOW - 60 * S + i]));
  it('the owner calm starts the cooldown: nothing is resumed yet, status knows when', () => {
    const d = decide(at({ busy: 0, pilots: half(), state: { pausedAt } }));
    assert.deepEqual(resumed(d), []);
    assert.equal(d.state.calmSince, NOW);
    assert.equal(d.cpu?.resumeAt, NOW + 15 * S);
    assert.equal(d.cpu?.paused, 28);
    assert.equal(d.cpu?.following, true);
  });
  it('after the cooldown every paused pilot that fits comes back in one pass, the one paused first first', () => {
    const d = decide(at({ busy: 0, pilots: half(), state: { pausedAt, calmSince: NOW - 15 * S } }));
    assert.equal(resumed(d).length, 28);
    assert.equal(resumed(d)[0], 'id100');
    assert.equal(d.cpu?.paused, 0);
    assert.equal(d.cpu?.following, false);
  });
  it('only as many as fit under the calm line: an owner at 20% leaves room for 19 of them', () => {
    // share of 35 running: 54.69%; up to the calm line: 20 + share - 100 <= 5, room for floor(30.31 / 1.5625) = 19
    const d = decide(at({ busy: 20, pilots: half(), state: { pausedAt, calmSince: NOW - 20 * S } }));
    const n = resumed(d).length;
    const shareAfter = ((35 + n) * 100) / 64;
    assert.ok(20 + shareAfter - 100 <= 5, `the excess stays at or under the calm line (${n} resumed)`);
    assert.ok(20 + ((36 + n) * 100) / 64 - 100 > 5, 'one more would pass it');
    assert.equal(n, 19);
    assert.equal(d.cpu?.paused, 9);
  });
  it('a burst of the owner during the cooldown starts it again', () => {
    const burst = decide(at({ busy: 80, pilots: half(), state: { pausedAt, calmSince: NOW - 14 * S } }));
    assert.equal(burst.state.calmSince, undefined);
    assert.equal(burst.cpu?.resumeAt, undefined);
    const after = decide(at({ busy: 0, pilots: half(), state: { ...burst.state, pausedAt } }));
    assert.deepEqual(resumed(after), []);
    assert.equal(after.state.calmSince, NOW);
  });
  it("0.6's pace resumes one per pass; resume_cooldown 0 resumes at the first calm pass", () => {
    const d = decide(
      at({ busy: 0, pilots: half(), state: { pausedAt }, flat: { cpuPace: 'one', resumeCooldownMs: 0 } }),
    );
    assert.deepEqual(resumed(d), ['id100']);
  });
  it('without a CPU reading the calm stands as it was', () => {
    const d = decide(at({ busy: undefined, pilots: half(), state: { pausedAt, calmSince: NOW - 3 * S } }));
    assert.equal(d.state.calmSince, NOW - 3 * S);
    assert.deepEqual(resumed(d), []);
  });
});

describe('a pilot the engine cannot freeze', () => {
  it('failed pauses are counted by settle(), and a success clears the count', () => {
    const d = decide(at({ ncpus: 2, busy: 100, pilots: running(2) }));
    const failed = settle(
      d.state,
      d,
      { started: 0, removed: 0, pulls: {}, pauseFailed: ['id1'], paused: ['id2'] },
      {
        at: NOW,
        controls: { drain: false, drainStop: false, forceStop: false },
        pilotsLeft: 2,
        mainMs: 30 * S,
        pools: basePools,
      },
    );
    assert.deepEqual(failed.state.pauseFailures, { id1: 1 });
    assert.equal(failed.nextMs, CPU_RECHECK_MS, 'the CPU rule follows the owner: the next pass within half a second');
    const ok = settle(
      failed.state,
      d,
      { started: 0, removed: 0, pulls: {}, paused: ['id1'] },
      {
        at: NOW,
        controls: { drain: false, drainStop: false, forceStop: false },
        pilotsLeft: 2,
        mainMs: 30 * S,
        pools: basePools,
      },
    );
    assert.equal(ok.state.pauseFailures, undefined);
  });
  it(`after ${PAUSE_TRIES} failed pauses in a row it is vacated instead (unfreezable); fewer: tried again`, () => {
    const tried = decide(
      at({ ncpus: 2, busy: 100, pilots: running(1), state: { pauseFailures: { id1: PAUSE_TRIES - 1 } } }),
    );
    assert.deepEqual(paused(tried), ['id1']);
    const d = decide(at({ ncpus: 2, busy: 100, pilots: running(1), state: { pauseFailures: { id1: PAUSE_TRIES } } }));
    assert.deepEqual(
      d.actions.map((a) => (a.kind === 'remove' ? `${a.kind}:${a.id}:${a.reason}:${a.stopFirst}` : a.kind)),
      ['remove:id1:unfreezable:true'],
    );
  });
  it('counts of pilots no longer running are forgotten', () => {
    const d = decide(at({ busy: 0, pilots: [pilot(1, 'paused')], state: { pauseFailures: { id1: 2, gone: 1 } } }));
    assert.equal(d.state.pauseFailures, undefined);
  });
});
