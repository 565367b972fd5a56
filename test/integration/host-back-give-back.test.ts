/**
 * The pace of the CPU rule on the real engine (cpu_policy owner, main_sleep 30, so that the CPU
 * watch, not the pass schedule, is what sees the owner):
 * - proportional: on a fake /proc of 8 CPUs (test/support/fake-proc.ts) whose owner is set by the
 *   test, eight 1-CPU pilots; the owner taking half of the host gets four paused in one pass within
 *   seconds, and once it leaves they come back together, after resume_cooldown and not before;
 * - a busy pilot next to a busy owner (the real /proc): its pause succeeds at the first try (no
 *   `pilot-pause-failed`), the kernel's freezer says FROZEN, and the idle group is idle again after.
 * Each daemon has its own cgroup_parent, removed at the end.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpus } from 'node:os';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, logRecords, pilotsOf, testConfig } from '../support/daemon.ts';
import { FakeProc } from '../support/fake-proc.ts';
import { CGROUP_ROOT, cgroupOf, cpuHog, removeCgroup, type Hog } from '../support/host.ts';

const skip = await requireEngine('busybox');
const NCPUS = cpus().length;

const events = (log: string, event: string): Array<Record<string, unknown>> =>
  logRecords(log).filter((r) => r.event === event);
const timeOf = (r: Record<string, unknown>): number => Date.parse(String(r.timestamp));

async function pausedIds(instance: string): Promise<string[]> {
  return (await pilotsOf(instance, 'paused')).map((p) => p.id);
}

describe('proportional give-back on a fake 8-CPU host', { skip, timeout: 120_000 }, () => {
  const instance = randomInstance();
  const parent = `plancton-gb-${instance}`;
  const proc = new FakeProc(8);
  let d: DaemonProcess | undefined;
  after(async () => {
    proc.close();
    await d?.cleanup();
    await removeByLabel(`org.plancton.instance=${instance}`);
    removeCgroup(parent);
    if (d) rmSync(d.dir, { recursive: true, force: true });
  });

  it('an owner taking half the host gets four of eight pilots paused in one pass; they come back together after the cooldown', async () => {
    d = new DaemonProcess(
      testConfig(instance, {
        host_proc: proc.dir,
        cgroup_parent: parent,
        io_mechanism: 'off',
        cpu_policy: 'owner',
        main_sleep: 30,
        pause_max: 600,
        resume_cooldown: 4,
        cpus_per_dock: 1,
        max_docks: 8,
        docks_per_loop: 8,
      }),
    ).start();
    await waitFor(
      '8 running pilots',
      async () => ((await pilotsOf(instance, 'running')).length === 8 ? true : undefined),
      60_000,
    );
    // let the fill's passes settle: the next pass is main_sleep away
    await waitFor('the status after the fill', () => (d?.status()?.cpu?.paused === 0 ? true : undefined), 10_000);
    await new Promise((r) => setTimeout(r, 1500));

    // owner 50%: excess 50 + 100 - 100 = 50; each pilot takes 12.5 off; the calm line is 10 - 5 = 5: four
    const rose = Date.now();
    proc.busy = 50;
    const four = await waitFor(
      '4 pilots paused',
      async () => ((await pausedIds(instance)).length >= 4 ? true : undefined),
      10_000,
    );
    assert.ok(four);
    const coveredMs = Date.now() - rose;
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await pausedIds(instance)).length, 4, 'four, and no more: the excess is covered');
    const paused = events(d.log, 'pilot-paused');
    assert.equal(paused.length, 4);
    const spread = Math.max(...paused.map(timeOf)) - Math.min(...paused.map(timeOf));
    assert.ok(spread < 1000, `paused together, in one pass (${spread} ms apart)`);
    assert.ok(
      coveredMs < 5000,
      `covered ${coveredMs} ms after the owner rose (main_sleep is 30 s: the CPU watch saw it)`,
    );
    assert.equal(events(d.log, 'pilot-pause-failed').length, 0);
    const status = d.status();
    assert.equal(status?.cpu?.pace, 'proportional');
    assert.equal(status?.cpu?.paused, 4);

    const left = Date.now();
    proc.busy = 0;
    await waitFor('a resume time in the status', () => d?.status()?.cpu?.resumeAt, 5_000);
    await waitFor(
      'every pilot running again',
      async () => ((await pausedIds(instance)).length === 0 ? true : undefined),
      15_000,
    );
    const resumed = events(d.log, 'pilot-resumed');
    assert.equal(resumed.length, 4);
    const first = Math.min(...resumed.map(timeOf));
    assert.ok(first - left >= 4000 - 250, `not before the cooldown of 4 s (${first - left} ms after the owner left)`);
    assert.ok(first - left < 4000 + 3000, `soon after it (${first - left} ms)`);
    assert.ok(Math.max(...resumed.map(timeOf)) - first < 1000, 'together, in one pass');
    assert.equal(d.status()?.removals.length, 0, 'nothing vacated');
  });
});

describe('a busy pilot next to a busy owner', { skip, timeout: 90_000 }, () => {
  const instance = randomInstance();
  const parent = `plancton-gb-${instance}`;
  let d: DaemonProcess | undefined;
  let hog: Hog | undefined;
  after(async () => {
    await hog?.end();
    await d?.cleanup();
    await removeByLabel(`org.plancton.instance=${instance}`);
    removeCgroup(parent);
    if (d) rmSync(d.dir, { recursive: true, force: true });
  });

  it('is frozen at the first try, within seconds of the owner, and its idle group is idle again afterwards', async () => {
    d = new DaemonProcess(
      testConfig(instance, {
        cgroup_parent: parent,
        io_mechanism: 'off',
        cpu_policy: 'owner',
        main_sleep: 30,
        pause_max: 600,
        resume_cooldown: 600,
        cpus_per_dock: 1,
        max_docks: 1,
        docker_cmd: ['sh', '-c', 'for i in 1 2 3 4; do (while :; do :; done) & done; wait'],
      }),
    ).start();
    const [pilot] = await waitFor(
      'a running pilot',
      async () => {
        const rows = await pilotsOf(instance, 'running');
        return rows.length === 1 ? rows : undefined;
      },
      // its start runs at idle priority: on a machine busy with other work it waits for a free CPU
      60_000,
    );
    assert.ok(pilot);
    const idleFile = join(CGROUP_ROOT, 'cpu', parent, 'cpu.idle');
    assert.equal(readFileSync(idleFile, 'utf8').trim(), '1', 'the pilots run at idle priority');
    await new Promise((r) => setTimeout(r, 2000));

    const rose = Date.now();
    hog = cpuHog(NCPUS);
    await waitFor(
      'the pilot paused',
      async () => ((await pausedIds(instance)).includes(pilot.id) ? true : undefined),
      15_000,
    );
    const pausedMs = Date.now() - rose;
    assert.equal(events(d.log, 'pilot-pause-failed').length, 0, 'no failed pause');
    assert.equal(events(d.log, 'pilot-paused').length, 1, 'one pause: the first try');
    // the kernel's view: the pilot's freezer cgroup is frozen
    const pid = Number(await docker(['inspect', '-f', '{{.State.Pid}}', pilot.id]));
    const freezer = cgroupOf(pid, 'freezer');
    assert.ok(freezer?.includes(pilot.id), `the pilot's freezer cgroup (${freezer})`);
    assert.equal(readFileSync(join(CGROUP_ROOT, 'freezer', freezer ?? '', 'freezer.state'), 'utf8').trim(), 'FROZEN');
    assert.equal(readFileSync(idleFile, 'utf8').trim(), '1', 'the idle group is idle again after the pause');
    assert.ok(pausedMs < 8000, `paused ${pausedMs} ms after the owner began`);
  });
});
