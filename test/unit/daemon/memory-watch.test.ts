/** The memory watch between passes, on the injected clock: it reads at its interval and wakes the loop only when short. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MemoryReading } from '../../../src/host/observer.ts';
import { MemoryWatch } from '../../../src/daemon/memory-watch.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { waitFor } from '../../support/docker.ts';

const reading = (availableBytes: number): MemoryReading => ({
  memory: { totalBytes: 8e9, availableBytes, swapTotalBytes: 0, swapFreeBytes: 0 },
  psi: undefined,
});

describe('memory watch', () => {
  it('reads every interval on the injected clock, wakes for each short reading, and stops reading once closed', async () => {
    const clock = new FakeClock(0);
    const script = [3e9, 1e9, 3e9, 1e9];
    let reads = 0;
    const wokenAt: number[] = [];
    const watch = new MemoryWatch(
      {
        read: () => Promise.resolve(reading(script[reads++ % script.length] ?? 0)),
        isShort: (m) => m.memory.availableBytes < 2e9,
        onShort: () => wokenAt.push(clock.now()),
        clock,
      },
      500,
    );
    await waitFor('8 readings', () => (reads >= 8 ? true : undefined), 5000);
    watch.close();
    await watch.done;
    const after = reads;
    assert.ok(clock.slept.every((ms) => ms === 500));
    assert.deepEqual(wokenAt.slice(0, 4), [1000, 2000, 3000, 4000], 'woken for the 2nd and 4th reading of each round');
    await new Promise((r) => setImmediate(r));
    assert.equal(reads, after, 'no reading after close');
  });

  it('a reading that fails is skipped: the watch reads again at the next tick', async () => {
    const clock = new FakeClock(0);
    let reads = 0;
    let woken = 0;
    const watch = new MemoryWatch(
      {
        read: () => (reads++ === 0 ? Promise.reject(new Error('EACCES')) : Promise.resolve(reading(1e9))),
        isShort: () => true,
        onShort: () => woken++,
        clock,
      },
      500,
    );
    await waitFor('a wake after the failed read', () => (woken > 0 ? true : undefined), 5000);
    watch.close();
    await watch.done;
    assert.ok(reads >= 2);
  });
});
