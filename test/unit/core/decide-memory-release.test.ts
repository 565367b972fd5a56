/**
 * Tables for the memory that removals are still giving back: the passes after a memory removal
 * count what the removed pilots held until it shows in MemAvailable (or MEMORY_RELEASE_MS has
 * passed), so that a pass that reads memory while they are torn down takes no more than the shortfall.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/core/decide.ts';
import { MEMORY_RELEASE_MS, memoryOnItsWay, shortBeyondRelease, stillToFree } from '../../../src/core/rules/memory.ts';
import { settle } from '../../../src/core/settle.ts';
import type { DecideInput, Decision, Pilot, PolicyState } from '../../../src/core/decision.ts';
import { basePolicy, basePools, input, kinds, NOW, pilot, S } from '../../support/decide-fixtures.ts';

const GB = 1e9;
const policy = { ...basePolicy, memFloorBytes: 2 * GB, psiMemoryPct: 20, memoryStopTimeoutSec: 0 };
const three = [pilot(1, 'running', 300), pilot(2, 'running', 200), pilot(3, 'running', 100)];

/** One pass at `now` with MemAvailable `available` GB, the pilots listed and the state carried over. */
function pass(over: {
  available: number;
  pilots: readonly Pilot[];
  state?: PolicyState;
  now?: number;
  psi?: number;
  usage?: Record<string, number>;
}): Decision {
  const now = over.now ?? NOW;
  const base: DecideInput = input({ policy, pilots: over.pilots, state: over.state ?? {} });
  return decide({
    ...base,
    now,
    host: {
      ...base.host,
      at: now,
      memory: { totalBytes: 16 * GB, availableBytes: over.available * GB, swapTotalBytes: 0, swapFreeBytes: 0 },
      pressure:
        over.psi === undefined ? undefined : { memory: { some: { avg10: over.psi, avg60: 0, avg300: 0, total: 0 } } },
    },
    pilotMemoryBytes: new Map(Object.entries(over.usage ?? { id1: 1, id2: 1, id3: 1 }).map(([k, v]) => [k, v * GB])),
  });
}

/** A moment after a removal, well within MEMORY_RELEASE_MS. */
const SOON = MEMORY_RELEASE_MS / 2;

const memoryRemovals = (d: Decision): string[] => kinds(d.actions).filter((k) => k.endsWith(':memory'));
const freed = (entries: Record<string, [gb: number, agoMs: number]>): PolicyState['memoryFreed'] =>
  Object.fromEntries(Object.entries(entries).map(([id, [gb, ago]]) => [id, { bytes: gb * GB, at: NOW - ago }]));
const ctx = (left: readonly string[], usage: Record<string, number>) => ({
  pools: basePools,
  at: NOW,
  controls: { drain: false, drainStop: false, forceStop: false },
  pilotsLeft: left.length,
  mainMs: 30 * S,
  memory: { usage: new Map(Object.entries(usage).map(([k, v]) => [k, v * GB])), left },
});

describe('memory on its way back from the last removals', () => {
  it('the pass right after two removals, still short while they are torn down, takes no third pilot', () => {
    const d = pass({
      available: 0.6,
      pilots: [three[0]!],
      state: { memoryLow: true, memoryFreed: freed({ id2: [1, SOON], id3: [1, SOON] }) },
    });
    assert.deepEqual(memoryRemovals(d), []);
    assert.equal(d.fit.blocked, 'memory-pressure', 'and starts nothing');
    assert.equal(d.state.memoryLow, true);
    assert.deepEqual(Object.keys(d.state.memoryFreed ?? {}).sort(), ['id2', 'id3'], 'still counted');
  });

  it('an owner still growing past what is on its way: only the difference is taken', () => {
    // 2 GB missing, 1 GB on its way: the youngest left (1 GB) covers the rest
    const two = [three[0]!, three[1]!];
    const d = pass({ available: 0, pilots: two, state: { memoryFreed: freed({ id3: [1, SOON] }) } });
    assert.deepEqual(memoryRemovals(d), ['remove:id2:memory']);
  });

  it(`past MEMORY_RELEASE_MS (${MEMORY_RELEASE_MS} ms) it counts no more: what is still missing is taken`, () => {
    const state = { memoryFreed: freed({ id2: [1, MEMORY_RELEASE_MS], id3: [1, MEMORY_RELEASE_MS] }) };
    const d = pass({ available: 1.5, pilots: [three[0]!], state });
    assert.deepEqual(memoryRemovals(d), ['remove:id1:memory']);
    assert.equal(d.state.memoryFreed, undefined);
    const just = { memoryFreed: freed({ id2: [1, MEMORY_RELEASE_MS - 1] }) };
    assert.deepEqual(memoryRemovals(pass({ available: 1.5, pilots: [three[0]!], state: just })), []);
  });

  it('a pilot still listed (its removal failed) gives nothing back: it is taken again', () => {
    const d = pass({ available: 1.5, pilots: three, state: { memoryFreed: freed({ id3: [1, SOON] }) } });
    assert.deepEqual(memoryRemovals(d), ['remove:id3:memory']);
    assert.equal(d.state.memoryFreed, undefined);
  });

  it('memory back over the floor: nothing is counted any more (a later shortage is a new one)', () => {
    const d = pass({
      available: 2.1,
      pilots: [three[0]!],
      state: { memoryLow: true, memoryFreed: freed({ id3: [1, SOON] }) },
    });
    assert.deepEqual(memoryRemovals(d), []);
    assert.equal(d.state.memoryFreed, undefined);
    assert.equal(d.fit.blocked, 'memory-pressure', 'under the recovery line: still no start');
  });

  it('PSI over its limit (a 10 s average, it lags) while memory is on its way: none taken; with nothing on its way, one', () => {
    const over = { available: 8, pilots: [three[0]!, three[1]!], psi: 30 };
    assert.deepEqual(memoryRemovals(pass({ ...over, state: { memoryFreed: freed({ id3: [1, SOON] }) } })), []);
    assert.deepEqual(memoryRemovals(pass(over)), ['remove:id2:memory']);
  });

  it('without any removal behind it, a shortage is covered as before', () => {
    assert.deepEqual(memoryRemovals(pass({ available: 0.5, pilots: three })), [
      'remove:id3:memory',
      'remove:id2:memory',
    ]);
  });
});

describe('settle: what the memory removals of a pass leave on its way back', () => {
  const removal = (id: string, reason: 'memory' | 'ttl' = 'memory') => ({
    kind: 'remove' as const,
    id,
    name: id,
    reason,
    stopFirst: true,
    graceSec: 0,
    vacate: { graceSec: 0, signal: 'SIGTERM', command: [] },
  });
  const decision = (actions: Decision['actions']): Decision => ({
    state: { memoryLow: true },
    actions,
    status: 'active',
    fit: { running: 1, fitting: 0, room: 0, toStart: 0, pilotSharePct: 0, overloaded: false },
  });

  it('records each pilot removed for memory and gone from the list, with what it held and when its removal ended', () => {
    const d = decision([removal('id3'), removal('id2'), removal('id4', 'ttl')]);
    const s = settle(
      d.state,
      d,
      { started: 0, removed: 3, pulls: {} },
      ctx(['id1'], { id1: 1, id2: 0.5, id3: 0.7, id4: 2 }),
    );
    assert.deepEqual(s.state.memoryFreed, { id2: { bytes: 0.5 * GB, at: NOW }, id3: { bytes: 0.7 * GB, at: NOW } });
    assert.equal(s.nextMs, 0, 'and comes back at once to see what it freed');
  });

  it('not one still listed (its removal failed), nor one without a figure; earlier entries are kept', () => {
    const d = decision([removal('id3'), removal('id2'), removal('id9')]);
    const state = { memoryFreed: freed({ id5: [1, SOON] }) };
    const s = settle(state, d, { started: 0, removed: 1, pulls: {} }, ctx(['id1', 'id3'], { id1: 1, id2: 1, id3: 1 }));
    assert.deepEqual(s.state.memoryFreed, { ...state.memoryFreed, id2: { bytes: GB, at: NOW } });
  });

  it('decide, settle, decide: two youngest in one pass, the oldest stays while their memory comes back', () => {
    // 1.5 pilots' memory missing: the two youngest cover it
    const first = pass({ available: 0.5, pilots: three });
    assert.deepEqual(memoryRemovals(first), ['remove:id3:memory', 'remove:id2:memory']);
    const settled = settle(
      first.state,
      first,
      { started: 0, removed: 2, pulls: {} },
      ctx(['id1'], { id1: 1, id2: 1, id3: 1 }),
    );
    // a moment later, within MEMORY_RELEASE_MS, half of it shows yet
    const second = pass({ available: 1.5, pilots: [three[0]!], state: settled.state, now: NOW + SOON });
    assert.deepEqual(memoryRemovals(second), []);
    // all of it shows: over the floor, under the recovery line
    const third = pass({ available: 2.3, pilots: [three[0]!], state: second.state, now: NOW + 1300 });
    assert.deepEqual(memoryRemovals(third), []);
    assert.deepEqual([third.fit.blocked, third.state.memoryFreed], ['memory-pressure', undefined]);
  });
});

describe('the pure pieces', () => {
  it('memoryOnItsWay: entries within the window and gone from the list', () => {
    const entries = freed({ a: [1, 0], b: [2, MEMORY_RELEASE_MS - 1], c: [4, MEMORY_RELEASE_MS], d: [8, 10] });
    const r = memoryOnItsWay(entries, NOW, new Set(['d']));
    assert.equal(r.bytes, 3 * GB);
    assert.deepEqual(Object.keys(r.kept ?? {}), ['a', 'b']);
    assert.deepEqual(memoryOnItsWay(undefined, NOW), { bytes: 0, kept: undefined });
    // an entry from the future (a clock set back) is not trusted
    assert.equal(memoryOnItsWay(freed({ a: [1, -1000] }), NOW).bytes, 0);
  });

  it('stillToFree: the shortfall less what is on its way; undefined when that covers it', () => {
    const table: Array<[available: number, floor: number, onItsWay: number, expected: number | undefined]> = [
      [1, 3, 0, 2],
      [1, 3, 1, 1],
      [1, 3, 2, undefined],
      [1, 3, 5, undefined],
      [5, 0, 0, 0], // PSI only: no amount
      [5, 0, 1, undefined], // PSI only, memory on its way: wait for it
      [5, 3, 0, -2],
    ];
    for (const [available, floor, onItsWay, expected] of table)
      assert.equal(stillToFree(available, floor, onItsWay), expected, `${available} ${floor} ${onItsWay}`);
  });

  it('shortBeyondRelease: what the memory watch wakes the loop for', () => {
    const p = { memFloorBytes: 2 * GB, psiMemoryPct: 20 };
    assert.equal(shortBeyondRelease(1.5 * GB, 0, p, 0), true);
    assert.equal(shortBeyondRelease(1.5 * GB, 0, p, 0.5 * GB), false);
    assert.equal(shortBeyondRelease(1.5 * GB, 0, p, 0.4 * GB), true);
    assert.equal(shortBeyondRelease(3 * GB, 30, p, 0), true);
    assert.equal(shortBeyondRelease(3 * GB, 30, p, GB), false);
    assert.equal(shortBeyondRelease(3 * GB, 10, p, 0), false);
  });
});
