/** The removal rules on the real engine: TTL, and a busy host (a fake /proc) taking the CPU back after grace_kill. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, pilotsOf, testConfig } from '../support/daemon.ts';
import { FakeProc } from '../support/fake-proc.ts';

const skip = await requireEngine('busybox');

describe('max_ttl on the real engine', { skip, timeout: 120_000 }, () => {
  const instance = randomInstance();
  let d: DaemonProcess | undefined;
  after(async () => {
    await d?.cleanup();
    await removeByLabel(`org.plancton.instance=${instance}`);
  });

  it('stops and removes pilots past max_ttl, and replaces them', async () => {
    d = new DaemonProcess(testConfig(instance, { max_ttl: 3, max_docks: 2 })).start();
    const first = await waitFor(
      '2 running pilots',
      async () => {
        const rows = await pilotsOf(instance, 'running');
        return rows.length === 2 ? rows : undefined;
      },
      30_000,
    );
    const removal = await waitFor('a ttl removal', () => d?.status()?.removals.find((r) => r.reason === 'ttl'), 30_000);
    assert.ok(first.some((p) => p.id === removal.id));
    assert.equal(removal.killed, true, 'stopped by Plancton');
    assert.ok((removal.uptimeSec ?? 0) >= 3, `uptime ${removal.uptimeSec} s is past max_ttl`);
    // `sleep` as PID 1 ignores SIGTERM: the engine kills it after stop_timeout
    assert.equal(removal.exitCode, 137);
    await waitFor(
      'replacements running',
      async () => {
        const rows = await pilotsOf(instance, 'running');
        return rows.length === 2 && rows.every((r) => !first.some((f) => f.id === r.id)) ? true : undefined;
      },
      30_000,
    );
  });
});

describe(
  'a busy host owner makes Plancton remove the youngest pilot after grace_kill',
  { skip, timeout: 120_000 },
  () => {
    const instance = randomInstance();
    let d: DaemonProcess | undefined;
    // the host's CPU as a fake /proc of 2 CPUs says (test/support/fake-proc.ts): the rule's input is
    // the test's, not the load of the tests running beside it (CI's HTCondor lane kept the real
    // host too busy for the three pilots to start)
    const proc = new FakeProc(2);
    after(async () => {
      proc.close();
      await d?.cleanup();
      await removeByLabel(`org.plancton.instance=${instance}`);
    });

    it('removes the youngest first, one per iteration, and starts nothing during grace_spawn', async () => {
      // 0.6's rule: pilots' share = 100 * 0.5 * 3 / ncpus; with 2 CPUs 75%, overloaded above 85% busy
      d = new DaemonProcess(
        testConfig(instance, {
          host_proc: proc.dir,
          cpu_policy: 'total',
          pause_max: 0,
          overload_hysteresis: 0,
          cpus_per_dock: 0.5,
          max_docks: 3,
          grace_kill: 2,
          grace_spawn: 600,
        }),
      ).start();
      const pilots = await waitFor(
        '3 running pilots',
        async () => {
          const rows = await pilotsOf(instance, 'running');
          return rows.length === 3 ? rows : undefined;
        },
        30_000,
      );
      const started = await Promise.all(
        pilots.map(async (p) => ({
          id: p.id,
          at: Date.parse(await docker(['inspect', '-f', '{{.State.StartedAt}}', p.id])),
        })),
      );
      const youngest = started.reduce((a, b) => (b.at > a.at ? b : a));
      assert.equal(d.status()?.removals.length ?? 0, 0, 'nothing removed before the owner got busy');

      proc.busy = 100;
      const first = await waitFor(
        'an overload removal',
        () => d?.status()?.removals.find((r) => r.reason === 'overload'),
        60_000,
      );
      assert.equal(first.id, youngest.id, 'the youngest pilot goes first');
      assert.equal(first.killed, true);
      await waitFor(
        'all pilots gone while the owner stays busy',
        async () => ((await pilotsOf(instance)).length === 0 ? true : undefined),
        60_000,
      );
      const removals = await waitFor('3 removals recorded', () =>
        d?.status()?.removals.length === 3 ? d.status()?.removals : undefined,
      );
      assert.deepEqual(
        removals.map((r) => r.reason),
        ['overload', 'overload', 'overload'],
      );
      const times = removals.map((r) => r.removedAt);
      assert.ok(
        times.every((t, i) => i === 0 || t > (times[i - 1] ?? 0)),
        'one removal at a time',
      );

      proc.busy = 0;
      const iterations = d.status()?.iterations ?? 0;
      await waitFor('3 more iterations after the owner went idle', () =>
        (d?.status()?.iterations ?? 0) >= iterations + 3 ? true : undefined,
      );
      assert.equal((await pilotsOf(instance)).length, 0, 'no start within grace_spawn of a kill');
      assert.equal(d.status()?.fit?.blocked, 'grace-spawn');
    });
  },
);
