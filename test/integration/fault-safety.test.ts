/**
 * Fault cases on the real engine that today's daemon can face: two daemons started at once on
 * one run directory, symlinks planted in the run directory, and a configuration server that
 * turns to garbage, to host power, or redirects to plain http. Each asserts that nothing is lost
 * (the pilots stay as they were, the last good configuration is kept) and nothing foreign is touched.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, lstatSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { assertUntouched, DaemonProcess, foreignContainer, pilotsOf, testConfig } from '../support/daemon.ts';

const skip = await requireEngine('busybox');

describe('fault cases on the real engine', { skip, timeout: 600_000 }, () => {
  const instances: string[] = [];
  const daemons: DaemonProcess[] = [];
  let foreign: { id: string; startedAt: string };
  const newInstance = (): string => {
    const i = randomInstance();
    instances.push(i);
    return i;
  };
  const running = (instance: string): Promise<number> => pilotsOf(instance, 'running').then((p) => p.length);

  before(async () => {
    foreign = await foreignContainer(`plancton-worker-fault-${randomInstance()}`);
  });
  after(async () => {
    for (const d of daemons) await d.cleanup();
    for (const i of instances) await removeByLabel(`org.plancton.instance=${i}`);
    await removeByLabel(`org.plancton.instance=never`).catch(() => undefined);
    try {
      await assertUntouched(foreign);
    } finally {
      await docker(['rm', '-f', foreign.id]).catch(() => undefined);
    }
  });

  it('two daemons started at once on one run directory: exactly one runs, the pilots are not doubled', async () => {
    const instance = newInstance();
    const dir = mkdtempSync(join(tmpdir(), 'plancton-fault-'));
    const a = new DaemonProcess(testConfig(instance, { max_docks: 2 }), dir);
    const b = new DaemonProcess(testConfig(instance, { max_docks: 2 }), dir);
    daemons.push(a, b);
    a.start();
    b.start();
    const loser = await waitFor(
      'one of the two to give up',
      () => (!a.running ? a : !b.running ? b : undefined),
      60_000,
    );
    const winner = loser === a ? b : a;
    assert.equal(await loser.exited(), 1);
    assert.match(loser.log, /another Plancton is running/);
    await waitFor('2 pilots', async () => ((await running(instance)) === 2 ? true : undefined), 120_000);
    // a few more passes of the winner: still exactly max_docks
    await waitFor('a later status', () => ((winner.status()?.iterations ?? 0) > 3 ? true : undefined), 60_000).catch(
      () => undefined,
    );
    assert.equal((await pilotsOf(instance)).length, 2);
    assert.equal(winner.running, true);
    assert.equal(await winner.kill('SIGTERM'), 0);
  });

  it('a symlinked run directory is refused; symlinks planted in the run directory are replaced, their targets untouched', async () => {
    const instance = newInstance();
    const dir = mkdtempSync(join(tmpdir(), 'plancton-fault-'));
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    // a run directory that is a symlink: refused before anything else
    mkdirSync(join(dir, 'elsewhere'), { mode: 0o700 });
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'run'));
    const linked = new DaemonProcess(testConfig(instance), dir);
    daemons.push(linked);
    linked.start();
    assert.equal(await linked.exited(), 1);
    assert.match(linked.log, /is a symlink: refusing it/);
    assert.equal((await pilotsOf(instance)).length, 0, 'it started no pilot');

    // a real run directory with links planted where Plancton writes
    const dir2 = mkdtempSync(join(tmpdir(), 'plancton-fault-'));
    const d = new DaemonProcess(testConfig(instance, { max_docks: 1 }), dir2);
    daemons.push(d);
    mkdirSync(d.runDir, { mode: 0o700 });
    symlinkSync(victim, join(d.runDir, 'status.json'));
    symlinkSync(victim, join(d.runDir, 'plancton.pid'));
    d.start();
    await waitFor(
      'a status file',
      () => (lstatSync(join(d.runDir, 'status.json')).isFile() ? true : undefined),
      60_000,
    );
    await waitFor('1 pilot', async () => ((await running(instance)) === 1 ? true : undefined), 120_000);
    symlinkSync(victim, join(d.runDir, 'drain'));
    // the planted flag counts as set (it is there), and `plancton drain` replaces it rather than writing the victim
    const r = await d.cli('drain');
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.ok(lstatSync(join(d.runDir, 'drain')).isFile());
    assert.ok(lstatSync(join(d.runDir, 'plancton.pid')).isFile());
    assert.equal(await d.kill('SIGTERM'), 0);
  });

  describe('a configuration server that misbehaves', () => {
    let server: Server;
    let body = '';
    let mode: 'ok' | 'redirect-http' = 'ok';
    let url = '';
    before(async () => {
      server = createServer((_req, res) => {
        if (mode === 'redirect-http')
          res.writeHead(302, { location: 'http://config.example.invalid/plancton.yaml' }).end();
        else res.writeHead(200, { 'content-type': 'text/yaml' }).end(body);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/plancton.yaml`;
    });
    after(() => {
      server.closeAllConnections();
      server.close();
    });

    it('garbage, host power from the URL, and a redirect to plain http each keep the last good configuration and the pilots', async () => {
      const instance = newInstance();
      body = testConfig(instance, { max_docks: 2 });
      const d = new DaemonProcess(testConfig('never'));
      daemons.push(d);
      d.start({ PLANCTON_CONF_URL: url, PLANCTON_CONF_UPDATE: '1' });
      await waitFor('2 pilots from the URL', async () => ((await running(instance)) === 2 ? true : undefined), 120_000);
      const ids = (await pilotsOf(instance)).map((p) => p.id).sort();
      const reloadError = async (what: RegExp): Promise<void> => {
        await waitFor(
          `status naming ${what}`,
          () => (what.test(JSON.stringify(d.status()?.config ?? {})) ? true : undefined),
          60_000,
        );
      };

      body = '\u0000: [[[ {{{\n: : -';
      await reloadError(/not valid YAML|must be a mapping/);
      body = `${testConfig(instance, { max_docks: 2 })}docker_privileged: true\n`;
      await reloadError(/docker_privileged.*power over the host/);
      mode = 'redirect-http';
      body = testConfig(instance, { max_docks: 2 });
      await waitFor(
        'the refused redirect in the log',
        () => (/use https|plain http/.test(d.log) ? true : undefined),
        60_000,
      );

      assert.deepEqual((await pilotsOf(instance)).map((p) => p.id).sort(), ids, 'the same pilots, none added or lost');
      assert.equal(d.running, true);
      assert.equal(await d.kill('SIGTERM'), 0);
    });
  });
});
