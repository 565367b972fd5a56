/** decide() with the I/O rule: its pauses and resumes among the CPU rule's, and what the shell gets. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide } from '../../../src/core/decide.ts';
import type { IoPolicy, IoReading } from '../../../src/core/rules/io.ts';
import type { Action } from '../../../src/core/decision.ts';
import { basePolicy, input, NOW, pilot, S } from '../../support/decide-fixtures.ts';

const io: IoPolicy = { mechanism: 'pause', ownerIops: 100, psiPct: 0, quietMs: 3 * S, pilotWriteBps: 1e6 };
const policy = { ...basePolicy, cpuPolicy: 'owner' as const, pauseMaxMs: 120 * S, io };
const reading = (ownerIops: number, writes: Record<string, number>): IoReading => ({
  ownerIops,
  ownerBps: 0,
  pilotWriteBps: new Map(Object.entries(writes)),
});
const acts = (a: readonly Action[]): string[] =>
  a.map((x) =>
    x.kind === 'pause' || x.kind === 'unpause' ? `${x.kind}:${x.id}` : x.kind === 'start' ? `start:${x.count}` : x.kind,
  );

describe('decide with the I/O rule', () => {
  it('the owner writes: the writing pilots are paused, heaviest first (and paused pilots hold starts back, as for CPU)', () => {
    const d = decide(
      input({
        policy: { ...policy, maxDocks: 8 },
        pilots: [pilot(1), pilot(2), pilot(3)],
        pilotsBusyPct: 0,
        io: reading(500, { id1: 2e6, id2: 9e6, id3: 0 }),
      }),
    );
    assert.deepEqual(acts(d.actions), ['pause:id2', 'pause:id1']);
    assert.deepEqual(d.io?.state.paused, ['id2', 'id1']);
    assert.deepEqual(Object.keys(d.state.pausedAt ?? {}).sort(), ['id1', 'id2']);
    assert.equal(d.io?.ownerBusy, true);
  });
  it('while the owner stays busy, the pilots paused for I/O are not resumed by the CPU rule (the host CPU is idle)', () => {
    const first = decide(input({ policy, pilots: [pilot(1)], pilotsBusyPct: 0, io: reading(500, { id1: 2e6 }) }));
    const d = decide(
      input({
        policy,
        now: NOW + S,
        pilots: [pilot(1, 'paused')],
        pilotsBusyPct: 0,
        io: reading(60, { id1: 0 }),
        state: first.state,
      }),
    );
    assert.deepEqual(acts(d.actions), []);
    assert.equal(d.fit.blocked, 'paused-pilots');
  });
  it('quiet for io_quiet: they resume together', () => {
    const state = {
      io: { busySince: NOW - 10 * S, calmSince: NOW - 3 * S, paused: ['id1', 'id2'] },
      pausedAt: { id1: NOW - 10 * S, id2: NOW - 10 * S },
    };
    const d = decide(
      input({ policy, pilots: [pilot(1, 'paused'), pilot(2, 'paused')], pilotsBusyPct: 0, io: reading(0, {}), state }),
    );
    assert.deepEqual(acts(d.actions), ['unpause:id1', 'unpause:id2', 'start:2']);
    assert.equal(d.state.io?.paused, undefined);
    assert.deepEqual(d.state.pausedAt, {});
  });
  it('a pilot paused for I/O past pause_max is vacated like one paused for CPU', () => {
    const state = { io: { busySince: NOW - 200 * S, paused: ['id1'] }, pausedAt: { id1: NOW - 120 * S } };
    const d = decide(input({ policy, pilots: [pilot(1, 'paused')], pilotsBusyPct: 0, io: reading(500, {}), state }));
    assert.deepEqual(
      d.actions.map((a) => (a.kind === 'remove' ? a.reason : a.kind)),
      ['pause-timeout', 'start'],
    );
  });
  it('a pilot the CPU rule pauses in this pass is not paused twice', () => {
    // 8 CPUs, owner at 95%: the youngest is paused for CPU; the I/O rule takes the other writer
    const d = decide(
      input({
        policy,
        busy: 95,
        pilots: [pilot(1, 'running', 100), pilot(2, 'running', 50)],
        pilotsBusyPct: 0,
        io: reading(500, { id1: 2e6, id2: 2e6 }),
      }),
    );
    assert.deepEqual(acts(d.actions), ['pause:id2', 'pause:id1']);
  });
  it('throttle: no pause, the limit goes to the shell', () => {
    const d = decide(
      input({
        policy: { ...policy, io: { ...io, mechanism: 'throttle' } },
        pilots: [pilot(1)],
        pilotsBusyPct: 0,
        io: reading(500, { id1: 9e9 }),
      }),
    );
    assert.deepEqual([acts(d.actions), d.io?.limit], [['start:3'], true]);
  });
  it('the owner busy on the disk does not stop starts (a new writer is paused in the next pass)', () => {
    const d = decide(input({ policy, pilots: [], pilotsBusyPct: 0, io: reading(500, {}) }));
    assert.deepEqual([acts(d.actions), d.fit.blocked], [['start:4'], undefined]);
  });
  it('not governed (no io policy): no outcome, nothing changes', () => {
    const d = decide(
      input({ policy: { ...basePolicy, maxDocks: 1 }, pilots: [pilot(1)], io: reading(5000, { id1: 9e9 }) }),
    );
    assert.deepEqual([d.io, d.actions.length, d.state.io], [undefined, 0, undefined]);
  });
  it('force-stop: the I/O rule does nothing, every pilot goes', () => {
    const d = decide(
      input({
        policy,
        pilots: [pilot(1, 'paused')],
        controls: { drain: false, drainStop: false, forceStop: true },
        io: reading(0, {}),
        state: { io: { paused: ['id1'] } },
      }),
    );
    assert.deepEqual(
      d.actions.map((a) => (a.kind === 'remove' ? a.reason : a.kind)),
      ['force-stop'],
    );
  });
});
