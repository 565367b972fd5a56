/**
 * The engine goes away mid-run and comes back: the daemon reports `waiting`, keeps running,
 * and reaches its target again. Runs last (file name), since it stops the engine for everyone.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { execa } from 'execa';
import { randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, pilotsOf, testConfig } from '../support/daemon.ts';

const skip = await requireEngine('busybox');
const ENGINE_SH = resolve(import.meta.dirname, '../../.ci/setup/engine.sh');

describe('engine stopped and restarted mid-run', { skip, timeout: 240_000 }, () => {
  const instance = randomInstance();
  let d: DaemonProcess | undefined;
  after(async () => {
    await execa('bash', [ENGINE_SH, 'ensure'], { reject: false });
    await d?.cleanup();
    await removeByLabel(`org.plancton.instance=${instance}`);
  });

  it('waits while the engine is away, then recovers and refills', async () => {
    d = new DaemonProcess(testConfig(instance)).start();
    const before = await waitFor(
      '3 running pilots',
      async () => {
        const rows = await pilotsOf(instance, 'running');
        return rows.length === 3 ? rows : undefined;
      },
      30_000,
    );

    await execa('bash', [ENGINE_SH, 'stop'], { timeout: 90_000 });
    const waiting = await waitFor(
      'status waiting',
      () => (d?.status()?.state === 'waiting' ? d.status() : undefined),
      30_000,
    );
    assert.equal(waiting?.engine.reachable, false);
    assert.ok(waiting?.engine.error);
    assert.equal(d.running, true, 'the daemon keeps running without an engine');

    await execa('bash', [ENGINE_SH, 'ensure'], { timeout: 90_000 });
    await waitFor(
      '3 new running pilots and state active',
      async () => {
        const rows = await pilotsOf(instance, 'running');
        const fresh = rows.filter((r) => !before.some((b) => b.id === r.id));
        return fresh.length === 3 && d?.status()?.state === 'active' ? true : undefined;
      },
      90_000,
    );
    // the engine stopped the old pilots; the daemon removed them as exited, none leaked
    assert.equal((await pilotsOf(instance)).length, 3);
    const removed = d.status()?.removals.filter((r) => before.some((b) => b.id === r.id)) ?? [];
    assert.equal(removed.length, 3);
    assert.ok(removed.every((r) => r.reason === 'exited'));
    assert.equal(d.status()?.engine.reachable, true);
  });
});
