/** What a stop signal does to pilots (on_stop), health, and starting drained, on the real engine. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, pilotsOf, testConfig } from '../support/daemon.ts';

const skip = await requireEngine('busybox');

describe('on_stop, health and PLANCTON_START_DRAIN', { skip, timeout: 180_000 }, () => {
  const instance = randomInstance();
  let d: DaemonProcess | undefined;
  after(async () => {
    await d?.cleanup();
    await removeByLabel(`org.plancton.instance=${instance}`);
  });

  it('health is 0 while the loop runs and 1 once it is gone', async () => {
    d = new DaemonProcess(testConfig(instance)).start();
    await waitFor('3 running pilots', async () => ((await pilotsOf(instance, 'running')).length === 3 ? true : undefined), 30_000);
    const ok = await d.cli('health');
    assert.equal(ok.exitCode, 0, ok.stdout);
    assert.match(ok.stdout, /^healthy: active, 3 pilots/);
    assert.equal(await d.kill('SIGTERM'), 0);
    const gone = await d.cli('health');
    assert.equal(gone.exitCode, 1);
    assert.match(gone.stdout, /unhealthy: the daemon is not running/);
    assert.equal((await pilotsOf(instance, 'running')).length, 3, 'on_stop keep (default) leaves the pilots');
  });

  it('on_stop remove: SIGTERM removes every pilot, then exit 0, leaving the run directory undrained', async () => {
    assert.ok(d);
    d.writeConfig(testConfig(instance, { on_stop: 'remove' }));
    d.start();
    await waitFor('adopted 3 pilots', () => (d?.status()?.pid === d?.proc?.pid && d?.status()?.pilots.length === 3 ? true : undefined), 30_000);
    assert.equal(await d.kill('SIGTERM'), 0);
    assert.deepEqual(await pilotsOf(instance), []);
    assert.ok(d.status()?.removals.filter((r) => r.reason === 'force-stop').length === 3);
    assert.equal(d.status()?.controls.drain, false);
  });

  it('on_stop drain: SIGTERM stops refills and exits when the last pilot ends', async () => {
    assert.ok(d);
    d.writeConfig(testConfig(instance, { on_stop: 'drain' }));
    d.start();
    const rows = await waitFor('3 running pilots', async () => {
      const r = await pilotsOf(instance, 'running');
      return r.length === 3 ? r : undefined;
    }, 30_000);
    d.proc?.kill('SIGTERM');
    await waitFor('draining', () => (d?.status()?.state === 'draining' ? true : undefined));
    assert.equal(d.running, true, 'still running while pilots run');
    for (const p of rows) await docker(['kill', p.id]);
    assert.equal(await d.exited(), 0);
    assert.deepEqual(await pilotsOf(instance), []);
  });

  it('PLANCTON_START_DRAIN=1 starts drained', async () => {
    assert.ok(d);
    d.writeConfig(testConfig(instance));
    d.start({ PLANCTON_START_DRAIN: '1' });
    await waitFor('iterating drained', () => (d?.status()?.pid === d?.proc?.pid && (d?.status()?.iterations ?? 0) >= 3 ? true : undefined), 30_000);
    assert.equal(d.status()?.state, 'draining');
    assert.deepEqual(await pilotsOf(instance), []);
    assert.equal((await d.cli('resume')).exitCode, 0);
    await waitFor('filled after resume', async () => ((await pilotsOf(instance, 'running')).length === 3 ? true : undefined), 30_000);
  });
});
