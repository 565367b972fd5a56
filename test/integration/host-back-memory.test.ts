/**
 * Memory-pressure reclaim on the real engine.
 * - An owner process that pushes MemAvailable under mem_floor makes the pilots go, with reason
 *   `memory`, and nothing starts while memory is low. What the daemon counts as available is
 *   MemAvailable plus the free pages in the kernel's per-CPU lists, checked against our own reading. The floor is set 2 GiB under MemAvailable
 *   so that other work on the machine does not cross it by itself.
 * - As many of the youngest pilots go in one pass as their memory (the daemon's cgroup figures)
 *   covers what is missing to the floor: pilots each hold 512 MiB (dd's buffer, blocked on a
 *   pipe), the floor is raised 768 MiB over MemAvailable, so the two youngest go together and the
 *   oldest stays (256 MiB of slack either way for the machine's own drift), also in the passes
 *   right after, while the two are being torn down and MemAvailable still reads short: what they
 *   held counts as on its way back (core/rules/memory.ts, MEMORY_RELEASE_MS).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, logRecords, pilotsOf, testConfig, type PilotRow } from '../support/daemon.ts';
import { GiB, MiB, memoryHog, oomKills, readMemory } from '../support/host.ts';

const skip = await requireEngine('busybox');

function suite(
  name: string,
  body: (
    instance: string,
    track: (d: DaemonProcess) => DaemonProcess,
    owner: (h: ReturnType<typeof memoryHog>) => void,
  ) => Promise<void>,
): void {
  describe(name, { skip, timeout: 90_000 }, () => {
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
    it(name, () =>
      body(
        instance,
        (x) => (d = x),
        (h) => {
          hog = h;
        },
      ),
    );
  });
}

async function running(instance: string, n: number): Promise<PilotRow[]> {
  return waitFor(
    `${n} running pilots`,
    async () => {
      const rows = await pilotsOf(instance, 'running');
      return rows.length === n ? rows : undefined;
    },
    30_000,
  );
}

suite(
  'an owner taking memory under mem_floor makes the pilots go, with reason memory',
  async (instance, track, owner) => {
    const floor = readMemory().availableBytes - 2 * GiB;
    const d = track(
      new DaemonProcess(
        testConfig(instance, {
          max_docks: 3,
          docks_per_loop: 1,
          mem_floor: floor,
          psi_memory: 0,
          memory_stop_timeout: 0,
        }),
      ).start(),
    );
    const pilots = await running(instance, 3);
    assert.equal(d.status()?.removals.length ?? 0, 0, 'nothing removed before the owner needs memory');
    // the daemon's figure is the kernel's: MemAvailable and the per-CPU lists, read here on our own
    const passes = d.status()?.iterations ?? 0;
    const host = await waitFor(
      'a pass after this one',
      () => ((d.status()?.iterations ?? 0) > passes ? d.status()?.host : undefined),
      10_000,
    );
    const mine = readMemory();
    assert.ok(host?.memPerCpuFreeBytes !== undefined, 'the per-CPU lists are counted');
    assert.ok(
      Math.abs((host?.memAvailableBytes ?? 0) - mine.availableBytes) < 256 * MiB,
      `status says ${host?.memAvailableBytes} bytes available, the kernel ${mine.availableBytes} (MemAvailable ${mine.memAvailableBytes})`,
    );
    const oom0 = oomKills();

    const hog = memoryHog(readMemory().availableBytes - floor + GiB / 2);
    owner(hog);
    let ownerEnded = false;
    void hog.finally(() => {
      ownerEnded = true;
    });
    await waitFor('every pilot gone', async () => ((await pilotsOf(instance)).length === 0 ? true : undefined), 30_000);
    const removals = await waitFor(
      '3 removals recorded',
      () => (d.status()?.removals.length === 3 ? d.status()?.removals : undefined),
      10_000,
    );
    assert.deepEqual(
      removals.map((r) => r.reason),
      ['memory', 'memory', 'memory'],
    );
    assert.deepEqual(removals.map((r) => r.id).sort(), pilots.map((p) => p.id).sort());
    assert.ok(
      removals.every((r) => r.killed && !r.oomKilled),
      'stopped by Plancton, not by the OOM killer',
    );
    assert.match(d.log, /"event":"pilot-removed"[^\n]*"reason":"memory"/);

    const status = await waitFor(
      'a decision under memory pressure',
      () => (d.status()?.fit?.memoryLow ? d.status() : undefined),
      10_000,
    );
    assert.equal(status?.fit?.blocked, 'memory-pressure', 'nothing starts while memory is short');
    assert.equal((await pilotsOf(instance)).length, 0);
    // the owner kept its memory
    assert.equal(ownerEnded, false, 'the owner still runs');
    const oom1 = oomKills();
    if (oom0 !== undefined && oom1 !== undefined) assert.equal(oom1 - oom0, 0, 'no OOM kill on the host');
  },
);

suite(
  "a shortfall of 1.5 pilots' memory takes the two youngest in one pass; the oldest stays",
  async (instance, track) => {
    const settings = {
      max_docks: 3,
      docks_per_loop: 1,
      psi_memory: 0,
      memory_stop_timeout: 0,
      max_dock_mem: 768 * MiB,
      docker_cmd: ['sh', '-c', 'dd if=/dev/zero bs=512M count=1 2>/dev/null | sleep 600'],
    };
    const d = track(new DaemonProcess(testConfig(instance, { ...settings, mem_floor: 0 })).start());
    const pilots = await running(instance, 3);
    await waitFor(
      'the daemon seeing 512 MiB in each pilot',
      () => {
        const rows = d.status()?.pilots ?? [];
        return rows.length === 3 && rows.every((r) => (r.memBytes ?? 0) >= 512 * MiB) ? true : undefined;
      },
      20_000,
    );
    const started = await Promise.all(
      pilots.map(async (p) => ({
        id: p.id,
        at: Date.parse(await docker(['inspect', '-f', '{{.State.StartedAt}}', p.id])),
      })),
    );
    const [youngest, second, oldest] = [...started].sort((a, b) => b.at - a.at).map((p) => p.id);

    d.writeConfig(testConfig(instance, { ...settings, mem_floor: readMemory().availableBytes + 768 * MiB }));
    const removals = await waitFor(
      '2 removals recorded',
      () => (d.status()?.removals.length === 2 ? d.status()?.removals : undefined),
      30_000,
    );
    assert.deepEqual(
      removals.map((r) => r.reason),
      ['memory', 'memory'],
    );
    assert.deepEqual(removals.map((r) => r.id).sort(), [youngest, second].sort(), 'the two youngest');
    // both in one pass: no iteration logged between the two removals
    const lines = logRecords(d.log);
    const at = lines.flatMap((l, i) => (l.event === 'pilot-removed' ? [i] : []));
    assert.equal(at.length, 2);
    assert.ok(!lines.slice(at[0], at[1]).some((l) => l.message === 'iteration'), 'removed in the same pass');

    // back over the floor, under the recovery line: the oldest stays, nothing starts
    const iterations = d.status()?.iterations ?? 0;
    const status = await waitFor(
      '3 more iterations',
      () => ((d.status()?.iterations ?? 0) >= iterations + 3 ? d.status() : undefined),
      15_000,
    );
    assert.equal(status?.fit?.blocked, 'memory-pressure', 'nothing starts while memory is low');
    assert.deepEqual(
      (await pilotsOf(instance)).map((p) => p.id),
      [oldest],
      'the oldest pilot is kept',
    );
    assert.equal(d.status()?.removals.length, 2, 'no third removal');
  },
);
