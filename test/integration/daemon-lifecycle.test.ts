/**
 * The daemon as a user runs it, on the real engine: fill, replace, drain, resume, reload,
 * kill -9 and adopt, graceful stop, drain-stop, force-stop; a foreign look-alike untouched throughout.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { assertUntouched, DaemonProcess, foreignContainer, pilotsOf, testConfig } from '../support/daemon.ts';

const instance = randomInstance();
const skip = await requireEngine('busybox');
const ids = (rows: Array<{ id: string }>): string[] => rows.map((r) => r.id).sort();

describe('daemon lifecycle on the real engine', { skip, timeout: 300_000 }, () => {
  let d: DaemonProcess;
  let foreign: { id: string; startedAt: string };
  let otherInstance: { id: string; startedAt: string };

  before(async () => {
    foreign = await foreignContainer(`plancton-worker-xyz-${instance}`);
    otherInstance = await foreignContainer(`plancton-worker-other-${instance}`, {
      'org.plancton.managed-by': 'plancton',
      'org.plancton.instance': `${instance}-other`,
    });
    d = new DaemonProcess(testConfig(instance)).start();
  });

  after(async () => {
    await d?.cleanup();
    await removeByLabel(`org.plancton.instance=${instance}`);
    await removeByLabel(`org.plancton.instance=${instance}-other`);
    await execa('docker', ['rm', '-f', `plancton-worker-xyz-${instance}`], { reject: false });
  });

  it('fills the host to max_docks and no further', async () => {
    await waitFor(
      '3 running pilots',
      async () => ((await pilotsOf(instance, 'running')).length === 3 ? true : undefined),
      30_000,
    );
    const iterations = d.status()?.iterations ?? 0;
    await waitFor('3 more iterations', () => ((d.status()?.iterations ?? 0) >= iterations + 3 ? true : undefined));
    assert.equal((await pilotsOf(instance)).length, 3);
    const st = d.status();
    assert.equal(st?.state, 'active');
    assert.equal(st?.pilots.length, 3);
    assert.equal(st?.fit?.blocked, 'max-docks');
  });

  it('creates pilots exactly as configured, with ownership labels and the host name', async () => {
    const [p] = await pilotsOf(instance);
    const info = JSON.parse(await docker(['inspect', p?.id ?? ''])) as Array<{
      Name: string;
      Config: { Hostname: string; Labels: Record<string, string>; Cmd: string[]; User: string; Env: string[] };
      HostConfig: {
        CpuQuota: number;
        CpuPeriod: number;
        Memory: number;
        SecurityOpt: string[] | null;
        CapDrop: string[] | null;
        PidsLimit: number | null;
      };
    }>;
    const c = info[0];
    assert.ok(c);
    const pilotId = c.Config.Labels['org.plancton.pilot-id'] ?? '';
    assert.match(pilotId, /^[a-z0-9]{6}$/);
    assert.equal(c.Name, `/plancton-worker-${pilotId}`);
    assert.match(c.Config.Hostname, new RegExp(`^plancton-[a-z0-9-]+-${pilotId}$`));
    assert.equal(c.Config.Labels['org.plancton.managed-by'], 'plancton');
    assert.equal(c.Config.Labels['org.plancton.instance'], instance);
    assert.equal(c.Config.Labels['org.plancton.config-hash'], d.status()?.config.hash);
    assert.deepEqual(c.Config.Cmd, ['sleep', '600']);
    // least privilege by default (0.6 ran pilots as 0:0, with no such limits): the image's own user, no-new-privileges, no NET_RAW, 4096 processes
    assert.equal(c.Config.User, '');
    assert.deepEqual(c.HostConfig.SecurityOpt, ['no-new-privileges']);
    assert.deepEqual(c.HostConfig.CapDrop, ['NET_RAW']);
    assert.equal(c.HostConfig.PidsLimit, 4096);
    assert.equal(c.HostConfig.CpuQuota, 5000);
    assert.equal(c.HostConfig.CpuPeriod, 100000);
    assert.equal(c.HostConfig.Memory, 64 * 1024 * 1024);
    assert.ok(c.Config.Env.includes(`PLANCTON_PILOT_ID=${pilotId}`));
  });

  it('replaces an exited pilot and accounts for it', async () => {
    const [victim] = await pilotsOf(instance, 'running');
    assert.ok(victim);
    await docker(['kill', victim.id]);
    await waitFor(
      'the exited pilot removed and replaced',
      async () => {
        const rows = await pilotsOf(instance, 'running');
        return rows.length === 3 && !rows.some((r) => r.id === victim.id) ? true : undefined;
      },
      30_000,
    );
    // the engine shows the replacement a moment before the daemon writes its status
    const removal = await waitFor('the removal recorded', () => d.status()?.removals.find((r) => r.id === victim.id));
    assert.equal(removal?.reason, 'exited');
    assert.equal(removal?.exitCode, 137);
    assert.equal(removal?.killed, false);
    assert.ok((removal?.uptimeSec ?? -1) >= 0);
  });

  it('drain stops replacements; resume restores them', async () => {
    const r = await d.cli('drain');
    assert.equal(r.exitCode, 0, r.stderr);
    await waitFor('state draining', () => (d.status()?.state === 'draining' ? true : undefined));
    const [victim] = await pilotsOf(instance, 'running');
    await docker(['kill', victim?.id ?? '']);
    await waitFor('the exited pilot removed', async () => ((await pilotsOf(instance)).length === 2 ? true : undefined));
    const iterations = d.status()?.iterations ?? 0;
    await waitFor('3 more iterations', () => ((d.status()?.iterations ?? 0) >= iterations + 3 ? true : undefined));
    assert.equal((await pilotsOf(instance)).length, 2, 'no replacement while draining');
    assert.equal(d.status()?.fit?.blocked, 'draining');
    assert.equal((await d.cli('resume')).exitCode, 0);
    await waitFor('back to 3', async () => ((await pilotsOf(instance, 'running')).length === 3 ? true : undefined));
    // the pass that started them writes its status after the starts, a moment after the engine shows them
    await waitFor('state active', () => (d.status()?.state === 'active' ? true : undefined), 5_000);
  });

  it('a bad config reload keeps the last good config; a good one is applied', async () => {
    d.writeConfig(testConfig(instance, { max_docks: 'ncpus +', main_sleep: -1 }));
    const st = await waitFor('reload error reported', () => d.status()?.config.reloadError);
    assert.match(st, /max_docks/);
    assert.match(st, /main_sleep/);
    assert.equal(d.status()?.state, 'active');
    assert.equal((await pilotsOf(instance, 'running')).length, 3);
    d.writeConfig(testConfig(instance, { max_docks: 2 }));
    await waitFor('reload applied', () =>
      d.status()?.config.maxDocks === 2 && !d.status()?.config.reloadError ? true : undefined,
    );
    assert.equal((await pilotsOf(instance, 'running')).length, 3, 'lowering max_docks removes nothing');
    d.writeConfig(testConfig(instance));
    await waitFor('max_docks 3 again', () => (d.status()?.config.maxDocks === 3 ? true : undefined));
  });

  it('after kill -9, a restarted daemon adopts its pilots: no duplicate, none killed', async () => {
    const before = ids(await pilotsOf(instance, 'running'));
    assert.equal(before.length, 3);
    await d.kill('SIGKILL');
    d.start();
    await waitFor(
      'the new daemon iterating',
      () => (d.status()?.pid === d.proc?.pid && (d.status()?.iterations ?? 0) >= 3 ? true : undefined),
      30_000,
    );
    assert.deepEqual(ids(await pilotsOf(instance)), before);
    assert.equal(d.status()?.pilots.length, 3);
  });

  it('status shows the table and --json the report', async () => {
    const text = await d.cli('status');
    assert.equal(text.exitCode, 0);
    assert.match(text.stdout, /daemon: +active/);
    assert.match(text.stdout, /ID +NAME +STATE +AGE +CPU/);
    assert.equal(text.stdout.match(/plancton-worker-[a-z0-9]{6} +running/g)?.length, 3);
    const json = JSON.parse((await d.cli('status', '--json')).stdout) as { running: boolean; pilots: unknown[] };
    assert.equal(json.running, true);
    assert.equal(json.pilots.length, 3);
  });

  it('stop (SIGTERM) exits 0 and leaves the pilots running', async () => {
    const before = ids(await pilotsOf(instance, 'running'));
    const r = await d.cli('stop');
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    assert.equal(await d.exited(), 0);
    assert.deepEqual(ids(await pilotsOf(instance, 'running')), before);
    assert.equal((await d.cli('status')).exitCode, 3);
  });

  it('drain-stop exits once the last pilot is gone, and stays drained', async () => {
    d.start();
    await waitFor('running again', () => (d.status()?.pid === d.proc?.pid ? true : undefined));
    assert.equal((await d.cli('drain', '--stop')).exitCode, 0);
    await waitFor('draining', () => (d.status()?.state === 'draining' ? true : undefined));
    for (const p of await pilotsOf(instance, 'running')) await docker(['kill', p.id]);
    assert.equal(await d.exited(), 0);
    assert.equal((await pilotsOf(instance)).length, 0);
    d.start();
    await waitFor('iterating', () =>
      d.status()?.pid === d.proc?.pid && (d.status()?.iterations ?? 0) >= 2 ? true : undefined,
    );
    assert.equal((await pilotsOf(instance)).length, 0, 'a restart after drain-stop stays drained');
    assert.equal((await d.cli('resume')).exitCode, 0);
    await waitFor(
      'filled after resume',
      async () => ((await pilotsOf(instance, 'running')).length === 3 ? true : undefined),
      30_000,
    );
  });

  it('force-stop removes every pilot it owns, then the daemon exits', async () => {
    const r = await d.cli('force-stop');
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    assert.equal(await d.exited(), 0);
    assert.deepEqual(await pilotsOf(instance), []);
    const removals = d.status()?.removals.filter((x) => x.reason === 'force-stop') ?? [];
    assert.equal(removals.length, 3);
    assert.ok(removals.every((x) => x.killed));
  });

  it('never touched the foreign look-alikes', async () => {
    await assertUntouched(foreign);
    await assertUntouched(otherInstance);
  });
});
