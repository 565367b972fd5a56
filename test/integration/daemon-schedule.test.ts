/** The schedule window on the real engine: closed, nothing starts; closed with schedule_vacate, pilots are vacated. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, pilotsOf, testConfig } from '../support/daemon.ts';

const skip = await requireEngine('busybox');
/** A pattern that excludes the current and the next hour (UTC). */
const closedNow = (): string => `* ${(new Date().getUTCHours() + 2) % 24} * * *`;

describe('schedule window', { skip, timeout: 120_000 }, () => {
  const instance = randomInstance();
  let d: DaemonProcess | undefined;
  after(async () => {
    await d?.cleanup();
    await removeByLabel(`org.plancton.instance=${instance}`);
  });

  it('outside the window nothing starts; opening it fills; closing it with schedule_vacate vacates', async () => {
    d = new DaemonProcess(testConfig(instance, { schedule: closedNow(), schedule_timezone: 'UTC' })).start();
    await waitFor('3 iterations', () => ((d?.status()?.iterations ?? 0) >= 3 ? true : undefined), 30_000);
    assert.equal(d.status()?.fit?.blocked, 'outside-schedule');
    assert.equal(d.status()?.state, 'draining');
    assert.deepEqual(await pilotsOf(instance), []);

    d.writeConfig(testConfig(instance, { schedule: '* * * * *' }));
    await waitFor(
      'filled when the window opens',
      async () => ((await pilotsOf(instance, 'running')).length === 3 ? true : undefined),
      30_000,
    );

    d.writeConfig(testConfig(instance, { schedule: closedNow(), schedule_timezone: 'UTC', schedule_vacate: true }));
    await waitFor('vacated', async () => ((await pilotsOf(instance)).length === 0 ? true : undefined), 30_000);
    const removals = await waitFor('3 schedule removals recorded', () => {
      const r = d?.status()?.removals.filter((x) => x.reason === 'schedule');
      return r?.length === 3 ? r : undefined;
    });
    assert.ok(removals.every((r) => r.killed));
  });
});
