/** Tables for the I/O rule: the owner's disk use, its hysteresis, and what each mechanism does. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  IO_POLL_FAST_MS,
  IO_POLL_MS,
  ioDecision,
  ioPollMs,
  ownerUsesDisk,
  pilotsWriteHeavily,
  type IoInput,
  type IoPolicy,
  type IoReading,
} from '../../../../src/core/rules/io.ts';

const NOW = 1_000_000;
const policy: IoPolicy = { mechanism: 'pause', ownerIops: 20, psiPct: 0, quietMs: 3000, pilotWriteBps: 1_000_000 };
const reading = (ownerIops: number, writes: Record<string, number> = {}, psi?: number): IoReading => ({
  ownerIops,
  ownerBps: ownerIops * 4096,
  psiSomeAvg10: psi,
  pilotWriteBps: new Map(Object.entries(writes)),
});
const run = (over: Partial<IoInput> & { p?: Partial<IoPolicy> } = {}): ReturnType<typeof ioDecision> =>
  ioDecision({
    now: NOW,
    reading: reading(0),
    state: {},
    running: ['a', 'b', 'c'],
    pausedNow: [],
    ...over,
    policy: { ...policy, ...over.p },
  });

describe('ownerUsesDisk: the line', () => {
  const cases: Array<[string, number, number | undefined, Partial<IoPolicy>, boolean]> = [
    ['just under the line', 19.99, undefined, {}, false],
    ['at the line', 20, undefined, {}, true],
    ['rule off (io_owner_iops 0)', 1e6, undefined, { ownerIops: 0 }, false],
    ['PSI off: pressure alone does nothing', 5, 90, {}, false],
    ['PSI over its line with some owner I/O', 5, 30.01, { psiPct: 30 }, true],
    ['PSI at its line', 5, 30, { psiPct: 30 }, false],
    ['PSI over, but no owner I/O at all (the pilots stall themselves)', 0, 90, { psiPct: 30 }, false],
    ['PSI over, kernel without PSI', 5, undefined, { psiPct: 30 }, false],
  ];
  for (const [name, iops, psi, p, want] of cases)
    it(name, () => assert.equal(ownerUsesDisk(reading(iops, {}, psi), { ...policy, ...p }), want));
});

describe('ownerUsesDisk: the median, also while the pilots write heavily', () => {
  it('one reading over the line (in no median) is not the owner, however heavily the pilots write', () => {
    assert.equal(ownerUsesDisk({ ...reading(10), pilotsWriteBps: 9e8 }, policy), false);
    assert.equal(ownerUsesDisk({ ...reading(20), pilotsWriteBps: 9e8 }, policy), true);
  });
});

describe('ioPollMs: faster readings while the pilots write heavily', () => {
  const cases: Array<[string, number | undefined, Partial<IoPolicy>, number]> = [
    ['pilots writing at pilotWriteBps', 1_000_000, {}, IO_POLL_FAST_MS],
    ['pilots writing less', 999_999, {}, IO_POLL_MS],
    ["pilots' writes unknown", undefined, {}, IO_POLL_MS],
    ['rule off', 9e8, { ownerIops: 0 }, IO_POLL_MS],
  ];
  for (const [name, bps, p, want] of cases)
    it(name, () => {
      const pol = { ...policy, ...p };
      assert.equal(ioPollMs({ ...reading(0), pilotsWriteBps: bps }, pol), want);
      assert.equal(pilotsWriteHeavily({ ...reading(0), pilotsWriteBps: bps }, pol), want === IO_POLL_FAST_MS);
    });
  it('no reading yet: the slow period', () => assert.equal(ioPollMs(undefined, policy), IO_POLL_MS));
});

describe('ioDecision: hysteresis', () => {
  it('a quiet owner on a quiet host: nothing happens', () => {
    assert.deepEqual(run(), {
      state: { busySince: undefined, calmSince: undefined, paused: undefined },
      ownerBusy: false,
      limit: false,
      pause: [],
      resume: [],
    });
  });
  it('one reading over the line makes the owner busy at once', () => {
    const d = run({ reading: reading(20, { a: 5e6 }) });
    assert.equal(d.ownerBusy, true);
    assert.equal(d.state.busySince, NOW);
  });
  it('between the release line and the line, a busy owner stays busy and the calm clock is reset', () => {
    const d = run({ reading: reading(10), state: { busySince: NOW - 9000, calmSince: NOW - 2999 } });
    assert.equal(d.ownerBusy, true);
    assert.equal(d.state.calmSince, undefined);
  });
  it('under the release line the calm clock starts; busy until quietMs have passed', () => {
    const first = run({ reading: reading(9.99), state: { busySince: NOW - 9000 } });
    assert.deepEqual([first.ownerBusy, first.state.calmSince], [true, NOW]);
    const before = run({ now: NOW + 2999, reading: reading(0), state: first.state });
    assert.equal(before.ownerBusy, true);
    const at = run({ now: NOW + 3000, reading: reading(0), state: first.state });
    assert.deepEqual([at.ownerBusy, at.state.busySince, at.state.calmSince], [false, undefined, undefined]);
  });
  it('PSI keeps a busy owner busy until it falls under half its line', () => {
    const p = { psiPct: 30 };
    assert.equal(
      run({ p, reading: reading(1, {}, 15.01), state: { busySince: NOW - 1, calmSince: NOW - 9999 } }).ownerBusy,
      true,
    );
    assert.equal(
      run({ p, reading: reading(1, {}, 15), state: { busySince: NOW - 1, calmSince: NOW - 9999 } }).ownerBusy,
      false,
    );
  });
  it('no reading (first pass, disks unreadable): no evidence, nothing changes', () => {
    const d = run({
      reading: undefined,
      state: { busySince: NOW - 10, paused: ['a'] },
      running: ['b'],
      pausedNow: ['a'],
    });
    assert.deepEqual([d.ownerBusy, d.pause, d.resume, d.state.paused], [true, [], [], ['a']]);
  });
});

describe('ioDecision: mechanisms', () => {
  it('pause: every pilot writing at least pilotWriteBps, heaviest first; pilots that only compute run on', () => {
    const d = run({ reading: reading(50, { a: 999_999, b: 1_000_000, c: 8e6 }) });
    assert.deepEqual(d.pause, ['c', 'b']);
    assert.deepEqual(d.state.paused, ['c', 'b']);
    assert.equal(d.limit, false);
  });
  it('pause: ties go by id; an unknown figure is never paused', () => {
    assert.deepEqual(run({ reading: reading(50, { b: 2e6, a: 2e6 }) }).pause, ['a', 'b']);
  });
  it('pause: pilots already paused (for I/O or CPU) are not paused again; the held ones are kept', () => {
    const d = run({
      reading: reading(50, { a: 5e6, b: 5e6 }),
      state: { busySince: NOW - 1, paused: ['a'] },
      running: ['b', 'c'],
      pausedNow: ['a'],
    });
    assert.deepEqual(d.pause, ['b']);
    assert.deepEqual(d.state.paused, ['a', 'b']);
  });
  it('quiet again: every pilot paused for I/O resumes at once, not the ones paused for CPU', () => {
    const d = run({
      reading: reading(0),
      state: { busySince: NOW - 9000, calmSince: NOW - 3000, paused: ['a', 'b'] },
      running: ['c'],
      pausedNow: ['a', 'b', 'x'],
    });
    assert.deepEqual([d.ownerBusy, d.resume, d.state.paused], [false, ['a', 'b'], undefined]);
  });
  it('a pilot paused for I/O that was resumed or removed meanwhile is forgotten', () => {
    const d = run({
      reading: reading(50),
      state: { busySince: NOW - 1, paused: ['a', 'gone'] },
      running: ['a'],
      pausedNow: [],
    });
    assert.deepEqual(d.state.paused, undefined);
    assert.deepEqual(
      run({
        reading: reading(0),
        state: { busySince: NOW - 9000, calmSince: NOW - 9000, paused: ['gone'] },
        running: [],
        pausedNow: [],
      }).resume,
      [],
    );
  });
  it('throttle: limit while busy, lifted when quiet; nobody is paused', () => {
    const p = { mechanism: 'throttle' as const };
    const busy = run({ p, reading: reading(50, { a: 9e9 }) });
    assert.deepEqual([busy.limit, busy.pause], [true, []]);
    assert.equal(run({ p, reading: reading(0), state: { busySince: NOW - 9000, calmSince: NOW - 3000 } }).limit, false);
  });
  it('weight and none: the owner is measured, nothing is done per pass', () => {
    for (const mechanism of ['weight', 'none'] as const) {
      const d = run({ p: { mechanism }, reading: reading(50, { a: 9e9 }) });
      assert.deepEqual([d.ownerBusy, d.limit, d.pause, d.resume], [true, false, [], []]);
    }
  });
  it('rule switched off (io_owner_iops 0) while pilots are paused for I/O: they resume', () => {
    const d = run({
      p: { ownerIops: 0 },
      reading: reading(500),
      state: { busySince: NOW - 1, paused: ['a'] },
      running: [],
      pausedNow: ['a'],
    });
    assert.deepEqual([d.ownerBusy, d.resume], [false, ['a']]);
  });
});
