/** settle() with the I/O rule's outcome: the pass comes back within a second while the owner is on the disk. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide } from '../../../src/core/decide.ts';
import type { IoPolicy, IoReading } from '../../../src/core/rules/io.ts';
import { IO_RECHECK_MS, RECHECK_MS, settle } from '../../../src/core/settle.ts';
import { basePolicy, basePools, input, NOW, pilot, S } from '../../support/decide-fixtures.ts';

const io: IoPolicy = { mechanism: 'pause', ownerIops: 100, psiPct: 0, quietMs: 3 * S, pilotWriteBps: 1e6 };
const policy = { ...basePolicy, cpuPolicy: 'owner' as const, pauseMaxMs: 120 * S, maxDocks: 1, io };
const reading = (ownerIops: number, writes: Record<string, number>): IoReading => ({
  ownerIops,
  ownerBps: 0,
  pilotWriteBps: new Map(Object.entries(writes)),
});
const ctx = {
  pools: basePools,
  at: NOW,
  controls: { drain: false, drainStop: false, forceStop: false },
  pilotsLeft: 1,
  mainMs: 30 * S,
};
const nextMs = (d: ReturnType<typeof decide>): number =>
  settle(d.state, d, { started: 0, removed: 0, pulls: {} }, ctx).nextMs;

describe('settle with the I/O rule', () => {
  it('the owner on the disk: the next pass within IO_RECHECK_MS', () => {
    const d = decide(input({ policy, pilots: [pilot(1)], pilotsBusyPct: 0, io: reading(500, { id1: 2e6 }) }));
    assert.equal(d.io?.ownerBusy, true);
    assert.equal(nextMs(d), IO_RECHECK_MS);
  });
  it('the owner calming down (not yet io_quiet), pilots still paused for it: within IO_RECHECK_MS', () => {
    const state = {
      io: { busySince: NOW - 10 * S, calmSince: NOW - S, paused: ['id1'] },
      pausedAt: { id1: NOW - 10 * S },
    };
    const d = decide(input({ policy, pilots: [pilot(1, 'paused')], pilotsBusyPct: 0, io: reading(0, {}), state }));
    assert.deepEqual(d.io?.state.paused, ['id1']);
    assert.equal(nextMs(d), IO_RECHECK_MS);
  });
  it('the disk quiet and nothing held: main_sleep', () => {
    const d = decide(input({ policy, pilots: [pilot(1)], pilotsBusyPct: 0, io: reading(0, {}) }));
    assert.equal(nextMs(d), 30 * S);
  });
});

describe('settle after starting the first pilots whose priority is unread', () => {
  it('comes back within RECHECK_MS to read their cgroups back; not once read, not without a start', () => {
    const d = decide(input({ policy: { ...basePolicy, maxDocks: 1 }, pilots: [], pilotsBusyPct: 0 }));
    const after = (started: number, priorityUnread: boolean): number =>
      settle(d.state, d, { started, removed: 0, pulls: {} }, { ...ctx, priorityUnread }).nextMs;
    assert.equal(after(1, true), RECHECK_MS);
    assert.equal(after(1, false), 30 * S);
    assert.equal(after(0, true), 30 * S);
  });
});
