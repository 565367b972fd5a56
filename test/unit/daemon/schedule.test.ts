import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/core/decide.ts';
import { ConfigError } from '../../../src/core/errors.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { ScheduleWindow } from '../../../src/daemon/schedule.ts';
import { basePolicy, input, kinds, pilot } from '../../support/decide-fixtures.ts';

describe('schedule window (node-cron patterns)', () => {
  const w = new ScheduleWindow();
  const weeknights = '* 19-23,0-6 * * 1-5';
  it('matches minutes inside the pattern, in the given time zone', () => {
    assert.equal(w.isOpen(weeknights, 'Europe/Rome', new Date('2026-11-23T20:30:00+01:00')), true); // Monday 20:30
    assert.equal(w.isOpen(weeknights, 'Europe/Rome', new Date('2026-11-23T12:30:00+01:00')), false); // Monday noon
    assert.equal(w.isOpen(weeknights, 'Europe/Rome', new Date('2026-11-22T20:30:00+01:00')), false); // Sunday
    assert.equal(w.isOpen(weeknights, 'UTC', new Date('2026-11-23T18:30:00Z')), false);
    assert.equal(w.isOpen(weeknights, 'America/New_York', new Date('2026-11-24T00:30:00Z')), true); // Monday 19:30 in New York
  });
  it('the whole minute is inside, not only its first second', () => {
    assert.equal(w.isOpen('* * * * *', '', new Date('2026-11-23T20:30:37.250Z')), true);
    assert.equal(w.isOpen('30 20 * * *', 'UTC', new Date('2026-11-23T20:30:59.999Z')), true);
    assert.equal(w.isOpen('30 20 * * *', 'UTC', new Date('2026-11-23T20:31:00.000Z')), false);
  });
  it('an empty pattern is always open', () => assert.equal(w.isOpen('', '', new Date()), true));
  it('bad patterns and time zones are config errors naming the key', () => {
    const keys = (env: Record<string, string>): string[] => {
      try {
        loadConfig({ env, args: [] });
        return [];
      } catch (e) {
        assert.ok(e instanceof ConfigError);
        return e.problems.map((p) => p.key);
      }
    };
    assert.deepEqual(keys({ PLANCTON_SCHEDULE: '61 * * * *' }), ['schedule']);
    assert.deepEqual(keys({ PLANCTON_SCHEDULE: '* * *' }), ['schedule']);
    assert.deepEqual(keys({ PLANCTON_SCHEDULE_TIMEZONE: 'Mars/Olympus' }), ['schedule_timezone']);
    assert.deepEqual(keys({ PLANCTON_SCHEDULE: '*/5 8-18 * * 6,0', PLANCTON_SCHEDULE_TIMEZONE: 'Europe/Rome' }), []);
  });
  w.close();
});

describe('decide outside the schedule window', () => {
  const ctl = { drain: false, drainStop: false, forceStop: false, outsideSchedule: true };
  it('starts and pulls nothing, reports draining, lets pilots finish', () => {
    const d = decide(
      input({ pilots: [pilot(1)], controls: ctl, images: { default: { name: 'busybox', present: false } } }),
    );
    assert.deepEqual(d.actions, []);
    assert.equal(d.fit.blocked, 'outside-schedule');
    assert.equal(d.status, 'draining');
  });
  it('with schedule_vacate, vacates the running pilots', () => {
    const d = decide(
      input({ pilots: [pilot(1), pilot(2, 'paused')], controls: ctl, policy: { ...basePolicy, scheduleVacate: true } }),
    );
    assert.deepEqual(kinds(d.actions), ['remove:id1:schedule', 'remove:id2:schedule']);
  });
});
