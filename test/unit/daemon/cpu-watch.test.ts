/** The CPU watch between passes, on the injected clock, and the owner's figure it reads from /proc/stat and the pilots' counter. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuWatch } from '../../../src/daemon/cpu-watch.ts';
import { OwnerCpuMeter } from '../../../src/host/owner-cpu.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { waitFor } from '../../support/docker.ts';

describe('CPU watch', () => {
  it('wakes at the second reading over the line in a row, only over quiet intervals, and not without a line', async () => {
    const clock = new FakeClock(0);
    // tick k reads pct[k]; a pass runs during tick 3 (its interval and the next are not quiet); no line at tick 7
    const pct = [5, 60, 60, 60, 60, 60, 60, 60];
    const busy = new Set([3]);
    let reads = 0;
    const woken: Array<{ tick: number; pct: number }> = [];
    const watch = new CpuWatch(
      {
        read: () => Promise.resolve(pct[reads++]),
        threshold: () => (reads === 8 ? undefined : 20),
        quiet: () => !busy.has(reads),
        onOver: (p) => woken.push({ tick: reads - 1, pct: p }),
        clock,
      },
      250,
    );
    await waitFor('8 readings', () => (reads >= 8 ? true : undefined), 5000);
    watch.close();
    await watch.done;
    assert.deepEqual(
      woken.map((w) => w.tick),
      [2, 6],
      'tick 1 is the first over the line; 3 and 4 overlap the pass; 5 starts a new pair',
    );
    assert.ok(woken.every((w) => w.pct === 60));
    assert.ok(clock.slept.every((ms) => ms === 250));
  });
});

describe('owner CPU meter', () => {
  const stat = (user: number, idle: number): string =>
    `cpu  ${user} 0 0 ${idle} 0 0 0 0 0 0\ncpu0 ${user / 2} 0 0 ${idle / 2} 0 0 0 0 0 0\ncpu1 ${user / 2} 0 0 ${idle / 2} 0 0 0 0 0 0\n`;
  it("busy less the pilots' group and the process itself, over its own interval", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'owner-cpu-'));
    try {
      const group = join(dir, 'cpuacct.usage');
      await writeFile(join(dir, 'stat'), stat(0, 0));
      await writeFile(group, '0\n');
      let self = { user: 0, system: 0 };
      const meter = new OwnerCpuMeter(dir, group, () => self);
      assert.equal(await meter.read(), undefined, 'the first call is the baseline');
      // 1 s on 2 CPUs: 200 jiffies, 150 busy (75%); the pilots used 0.5 CPU-s (25%), the process 0.1 CPU-s (5%)
      await writeFile(join(dir, 'stat'), stat(150, 50));
      await writeFile(group, `${0.5e9}\n`);
      self = { user: 60_000, system: 40_000 };
      const pct = await meter.read();
      assert.ok(pct !== undefined && Math.abs(pct - 45) < 1e-9, `owner 75 - 25 - 5 = 45, got ${pct}`);
      await rm(group);
      assert.equal(await meter.read(), undefined, "without the pilots' counter there is no figure");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
