import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { HostSample } from '../../../src/core/decision.ts';
import { HostObserver } from '../../../src/host/observer.ts';

const FIXTURE_ROOT = fileURLToPath(new URL('../../fixtures/proc-root', import.meta.url));

/** Host samples over 2 s intervals on 4 CPUs. */
function scripted(): { sample(now: number): Promise<HostSample> } {
  let n = 0;
  return {
    sample: (now) =>
      Promise.resolve({
        at: now,
        ncpus: 4,
        cpu: n++ === 0 ? undefined : { busyPct: 50, perCpuBusyPct: [50, 50, 50, 50], intervalSec: 2 },
        memory: { totalBytes: 8e9, availableBytes: 4e9, swapTotalBytes: 0, swapFreeBytes: 0 },
      }),
  };
}

describe('HostObserver: one reader of the host for the pass and the memory watch', () => {
  it('reads the host under the injected proc root', async () => {
    const observer = new HostObserver({ procRoot: FIXTURE_ROOT });
    await observer.prime(1000);
    const { host } = await observer.host(2000);
    assert.equal(host.at, 2000);
    assert.equal(host.ncpus, 2);
    assert.equal(host.memory.availableBytes, 24_838_795_264);
    assert.equal(host.pressure?.io?.some.avg10, 1.28);
  });

  it("gives this process's CPU in percent of the host over the sample's interval, from the baseline the prime took", async () => {
    const usage = [
      { user: 1_000_000, system: 0 },
      { user: 2_000_000, system: 1_000_000 },
      { user: 2_000_000, system: 1_000_000 },
    ];
    const observer = new HostObserver({ sampler: scripted(), selfCpu: () => usage.shift() ?? { user: 0, system: 0 } });
    await observer.prime(0);
    // 2 s of CPU over 2 s on 4 CPUs: 25 % of the host
    assert.equal((await observer.host(2000)).selfBusyPct, 25);
    assert.equal((await observer.host(4000)).selfBusyPct, 0);
  });

  it('without an interval (no prime, or a first reading) there is no figure for itself', async () => {
    const observer = new HostObserver({ sampler: scripted(), selfCpu: () => ({ user: 0, system: 0 }) });
    assert.equal((await observer.host(0)).selfBusyPct, undefined);
  });

  it('the memory watch reads MemAvailable and PSI memory through the same roots', async () => {
    const reading = await new HostObserver({ procRoot: FIXTURE_ROOT }).memory();
    assert.equal(reading.memory.totalBytes, 25_276_510_208);
    assert.equal(reading.memory.availableBytes, 24_838_795_264);
    assert.deepEqual(reading.psi?.some, { avg10: 0, avg60: 0, avg300: 0, total: 0 });
  });

  it('has no pilot figures without a cgroup root, and reads an empty pilot list under one', async () => {
    assert.equal(await new HostObserver({ procRoot: FIXTURE_ROOT }).pilots(['a'], 0, 2), undefined);
    const use = await new HostObserver({ procRoot: FIXTURE_ROOT, cgroupRoot: '/nonexistent-cgroup-root' }).pilots(
      [],
      0,
      2,
    );
    assert.deepEqual(use, { perPilot: new Map(), memory: new Map(), totalPct: 0, priority: undefined, unlocated: 0 });
  });

  it('a host that cannot be read fails the reading (the pass reports it)', async () => {
    const observer = new HostObserver({ procRoot: '/nonexistent-proc-root' });
    await observer.prime(0); // a failed prime is left to the first pass to report
    await assert.rejects(observer.host(1), { code: 'ENOENT' });
    await assert.rejects(observer.memory(), { code: 'ENOENT' });
  });
});
