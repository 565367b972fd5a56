/**
 * Pause, then resume or vacate, on the real engine (cpu_policy owner). One pilot of cpus_per_dock 1
 * on this host has a share of 100 / ncpus percent; ncpus busy host processes make the owner use
 * ~100%, so owner + share - 100 passes overload_margin: the pilot is paused. Once the owner is
 * idle it is resumed (the same container); kept busy past pause_max, it is vacated.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpus } from 'node:os';
import { rmSync } from 'node:fs';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, logRecords, passesIn, pilotsOf, testConfig, type PilotRow } from '../support/daemon.ts';
import { cpuHog, type Hog } from '../support/host.ts';

const skip = await requireEngine('busybox');
const NCPUS = cpus().length;

/** `docker inspect` State.Status and State.Paused of one container; undefined when it is gone. */
async function stateOf(id: string): Promise<{ status: string; paused: boolean } | undefined> {
  const out = await docker(['ps', '-a', '-q', '--no-trunc', '--filter', `id=${id}`]);
  if (out === '') return undefined;
  const [status = '', paused = ''] = (await docker(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', id])).split(
    ' ',
  );
  return { status, paused: paused === 'true' };
}

const events = (log: string, event: string): Array<Record<string, unknown>> =>
  logRecords(log).filter((r) => r.event === event);

function suite(
  name: string,
  pauseMax: number,
  body: (d: DaemonProcess, pilot: PilotRow, startHog: () => Hog, instance: string) => Promise<void>,
): void {
  describe(name, { skip, timeout: 60_000 }, () => {
    const instance = randomInstance();
    let d: DaemonProcess | undefined;
    const hogs: Hog[] = [];
    after(async () => {
      await Promise.all(hogs.map((h) => h.end()));
      await d?.cleanup();
      await removeByLabel(`org.plancton.instance=${instance}`);
      if (d) rmSync(d.dir, { recursive: true, force: true });
    });
    it(name, async () => {
      d = new DaemonProcess(
        testConfig(instance, {
          cpu_policy: 'owner',
          pause_max: pauseMax,
          // resumed 2 s after the owner is calm (the pace itself: host-back-give-back.test.ts)
          resume_cooldown: 2,
          max_docks: 1,
          cpus_per_dock: 1,
          grace_kill: 600,
        }),
      ).start();
      const [pilot] = await waitFor(
        'a running pilot',
        async () => {
          const rows = await pilotsOf(instance, 'running');
          return rows.length === 1 ? rows : undefined;
        },
        30_000,
      );
      assert.ok(pilot);
      await body(
        d,
        pilot,
        () => {
          const h = cpuHog(NCPUS);
          hogs.push(h);
          return h;
        },
        instance,
      );
    });
  });
}

suite(
  'a pilot is paused while the owner is busy and resumed once it is idle again',
  60,
  async (d, pilot, startHog, instance) => {
    const hog = startHog();
    await waitFor('the pilot paused', async () => ((await stateOf(pilot.id))?.paused ? true : undefined), 20_000);
    // the engine shows the pause a moment before the daemon logs it, and logs the pass after that
    const paused = await waitFor('a pilot-paused event', () => events(d.log, 'pilot-paused')[0], 5_000);
    assert.equal(paused.id, pilot.id);
    assert.equal(paused.reason, 'owner-cpu');
    // the pass that paused saw the host overloaded; the status file may already show a later pass,
    // in which the paused pilot no longer counts and the host is calm again
    await waitFor(
      'a pass logged as overloaded',
      () => (passesIn<{ overloaded: boolean }>(d.log).some((p) => p.overloaded) ? true : undefined),
      5_000,
    );

    await hog.end();
    await waitFor(
      'the same pilot running again',
      async () => {
        const s = await stateOf(pilot.id);
        return s?.status === 'running' && !s.paused ? true : undefined;
      },
      20_000,
    );
    await waitFor(
      'a pilot-resumed event',
      () => (events(d.log, 'pilot-resumed').some((e) => e.id === pilot.id) ? true : undefined),
      5_000,
    );
    assert.equal(events(d.log, 'pilot-resumed')[0]?.reason, 'owner-idle');
    assert.equal(d.status()?.removals.length, 0, 'nothing removed');
    assert.deepEqual(
      (await pilotsOf(instance)).map((p) => p.id),
      [pilot.id],
      'no other pilot started',
    );
  },
);

suite('a pilot paused past pause_max is vacated with reason pause-timeout', 2, async (d, pilot, startHog, instance) => {
  const hog = startHog();
  const removal = await waitFor(
    'a pause-timeout removal',
    () => d.status()?.removals.find((r) => r.reason === 'pause-timeout'),
    30_000,
  );
  assert.equal(removal.id, pilot.id);
  assert.equal(removal.killed, true);
  assert.ok(
    events(d.log, 'pilot-paused').some((e) => e.id === pilot.id),
    'it was paused first',
  );
  assert.equal(await stateOf(pilot.id), undefined, 'the container is gone');
  // the owner still wants the CPU: nothing new starts
  const iterations = d.status()?.iterations ?? 0;
  await waitFor(
    '2 more iterations',
    () => ((d.status()?.iterations ?? 0) >= iterations + 2 ? true : undefined),
    10_000,
  );
  assert.equal((await pilotsOf(instance)).length, 0, 'nothing started while the owner is busy');
  await hog.end();
});
