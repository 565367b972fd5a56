/** The loop's signals: a wake that comes while a pass runs is not lost, and many wakes make one early pass. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoopSignals } from '../../../src/daemon/loop-signals.ts';
import { FakeClock } from '../../support/fake-clock.ts';

describe('loop signals', () => {
  it('a wake during a pass (an engine event storm) brings the next pass after the minimum interval, not main_sleep', async () => {
    const clock = new FakeClock(0);
    const s = new LoopSignals();
    s.beginPass();
    for (let i = 0; i < 50; i++) s.wake(false, false); // fifty pilots died while the pass ran
    await s.sleep(clock, 30_000, true, 1000);
    assert.equal(clock.now(), 1000, 'the minimum interval only');
    s.beginPass();
    await s.sleep(clock, 30_000, true, 1000);
    assert.equal(clock.now(), 31_000, 'no wake since that pass began: main_sleep');
  });
  it('an urgent wake during a pass skips even the minimum interval; a plain one after it does not downgrade it', async () => {
    const clock = new FakeClock(0);
    const s = new LoopSignals();
    s.beginPass();
    s.wake(true, false);
    s.wake(false, false);
    await s.sleep(clock, 30_000, true, 1000);
    assert.equal(clock.now(), 0);
  });
  it('an unwakeable sleep (the first reading) waits its time whatever came', async () => {
    const clock = new FakeClock(0);
    const s = new LoopSignals();
    s.wake(true, false);
    await s.sleep(clock, 250, false, 1000);
    assert.equal(clock.now(), 250);
  });
});
