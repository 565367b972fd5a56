/** What a stop signal does to pilots (on_stop), health, and starting drained, on the real engine. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
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
    await waitFor(
      '3 running pilots',
      async () => ((await pilotsOf(instance, 'running')).length === 3 ? true : undefined),
      30_000,
    );
    // the pass that started them writes its status a moment after the engine shows them
    await waitFor('a status with 3 pilots', () => (d?.status()?.pilots.length === 3 ? true : undefined), 10_000);
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
    await waitFor(
      'adopted 3 pilots',
      () => (d?.status()?.pid === d?.proc?.pid && d?.status()?.pilots.length === 3 ? true : undefined),
      30_000,
    );
    assert.equal(await d.kill('SIGTERM'), 0);
    assert.deepEqual(await pilotsOf(instance), []);
    assert.ok(d.status()?.removals.filter((r) => r.reason === 'force-stop').length === 3);
    assert.equal(d.status()?.controls.drain, false);
  });

  it('on_stop drain: SIGTERM stops refills and exits when the last pilot ends', async () => {
    assert.ok(d);
    d.writeConfig(testConfig(instance, { on_stop: 'drain' }));
    d.start();
    const rows = await waitFor(
      '3 running pilots',
      async () => {
        const r = await pilotsOf(instance, 'running');
        return r.length === 3 ? r : undefined;
      },
      30_000,
    );
    d.proc?.kill('SIGTERM');
    await waitFor('draining', () => (d?.status()?.state === 'draining' ? true : undefined));
    assert.equal(d.running, true, 'still running while pilots run');
    for (const p of rows) await docker(['kill', p.id]);
    assert.equal(await d.exited(), 0);
    assert.deepEqual(await pilotsOf(instance), []);
  });

  it('on_stop remove: a SIGTERM during the start-up (pid file claimed, loop not yet running) still removes the pilots, then exit 0', async () => {
    d ??= new DaemonProcess(testConfig(instance));
    d.writeConfig(testConfig(instance));
    d.start();
    await waitFor(
      '3 running pilots',
      async () => ((await pilotsOf(instance, 'running')).length === 3 ? true : undefined),
      30_000,
    );
    assert.equal(await d.kill('SIGTERM'), 0);
    d.writeConfig(testConfig(instance, { on_stop: 'remove' }));
    d.start();
    // the pid file is claimed before the engine is asked for its host name, the cgroup set up and
    // the reporters made: a signal now lands while the daemon is being set up
    const pidFile = join(d.runDir, 'plancton.pid');
    await waitFor(
      'the pid file of the new daemon',
      () =>
        existsSync(pidFile) && readFileSync(pidFile, 'utf8').split('\n')[0] === String(d?.proc?.pid) ? true : undefined,
      10_000,
      5,
    );
    d.proc?.kill('SIGTERM');
    const code = await Promise.race([d.exited(), delay(30_000).then(() => 'still running after 30 s')]);
    assert.equal(code, 0, d.log);
    assert.deepEqual(await pilotsOf(instance), [], 'on_stop remove was carried out');
  });

  it('PLANCTON_START_DRAIN=1 starts drained', async () => {
    assert.ok(d);
    d.writeConfig(testConfig(instance));
    d.start({ PLANCTON_START_DRAIN: '1' });
    await waitFor(
      'iterating drained',
      () => (d?.status()?.pid === d?.proc?.pid && (d?.status()?.iterations ?? 0) >= 3 ? true : undefined),
      30_000,
    );
    assert.equal(d.status()?.state, 'draining');
    assert.deepEqual(await pilotsOf(instance), []);
    assert.equal((await d.cli('resume')).exitCode, 0);
    await waitFor(
      'filled after resume',
      async () => ((await pilotsOf(instance, 'running')).length === 3 ? true : undefined),
      30_000,
    );
  });
});
