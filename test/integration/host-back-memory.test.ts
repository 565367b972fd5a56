/**
 * Memory-pressure reclaim on the real engine: an owner process that pushes MemAvailable under
 * mem_floor makes the pilots go, youngest first, recorded with reason `memory`. The floor is set
 * just under the current MemAvailable so that a small hog is enough on a large machine.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, pilotsOf, testConfig } from '../support/daemon.ts';
import { GiB, memoryHog, oomKills, readMemory } from '../support/bench-host.ts';

const skip = await requireEngine('busybox');

describe('memory-pressure reclaim', { skip, timeout: 60_000 }, () => {
  const instance = randomInstance();
  let d: DaemonProcess | undefined;
  let hog: ReturnType<typeof memoryHog> | undefined;
  after(async () => {
    hog?.kill('SIGKILL');
    await hog?.catch(() => undefined);
    await d?.cleanup();
    await removeByLabel(`org.plancton.instance=${instance}`);
    if (d) rmSync(d.dir, { recursive: true, force: true });
  });

  it('removes the pilots, youngest first, with reason memory, while an owner holds memory under mem_floor', async () => {
    // 2 GiB of room under the floor: other work on the machine must not cross it by itself
    const floor = readMemory().availableBytes - 2 * GiB;
    d = new DaemonProcess(testConfig(instance, { max_docks: 3, docks_per_loop: 1, mem_floor: floor, psi_memory: 0, memory_stop_timeout: 0 })).start();
    const pilots = await waitFor('3 running pilots', async () => {
      const rows = await pilotsOf(instance, 'running');
      return rows.length === 3 ? rows : undefined;
    }, 30_000);
    assert.equal(d.status()?.removals.length ?? 0, 0, 'nothing removed before the owner needs memory');
    const started = await Promise.all(pilots.map(async (p) => ({ id: p.id, at: Date.parse(await docker(['inspect', '-f', '{{.State.StartedAt}}', p.id])) })));
    const byAge = [...started].sort((a, b) => b.at - a.at).map((p) => p.id);
    const oom0 = oomKills();

    hog = memoryHog(readMemory().availableBytes - floor + GiB / 2);
    let ownerEnded = false;
    void hog.finally(() => {
      ownerEnded = true;
    });
    await waitFor('every pilot gone', async () => ((await pilotsOf(instance)).length === 0 ? true : undefined), 30_000);
    const removals = await waitFor('3 removals recorded', () => (d?.status()?.removals.length === 3 ? d.status()?.removals : undefined), 10_000);
    assert.deepEqual(removals.map((r) => r.reason), ['memory', 'memory', 'memory']);
    assert.deepEqual(removals.map((r) => r.id), byAge, 'youngest first');
    assert.ok(removals.every((r) => r.killed && !r.oomKilled), 'stopped by Plancton, not by the OOM killer');
    assert.match(d.log, /"event":"pilot-removed"[^\n]*"reason":"memory"/);

    const status = await waitFor('a decision under memory pressure', () => (d?.status()?.fit?.memoryLow ? d.status() : undefined), 10_000);
    assert.equal(status?.fit?.blocked, 'memory-pressure', 'nothing starts while memory is short');
    assert.equal((await pilotsOf(instance)).length, 0);
    // the owner kept its memory
    assert.equal(ownerEnded, false, 'the owner still runs');
    const oom1 = oomKills();
    if (oom0 !== undefined && oom1 !== undefined) assert.equal(oom1 - oom0, 0, 'no OOM kill on the host');
  });
});
