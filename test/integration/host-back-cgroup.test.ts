/** The idle-priority parent cgroup on the real engine: created with the lowest weight, every pilot in it, shown in status. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, pilotsOf, testConfig } from '../support/daemon.ts';
import { CGROUP_ROOT, cgroupOf } from '../support/host.ts';

const skip = await requireEngine('busybox');
const V2 = existsSync(join(CGROUP_ROOT, 'cgroup.controllers'));

describe('idle-priority parent cgroup', { skip, timeout: 60_000 }, () => {
  const instance = randomInstance();
  let d: DaemonProcess | undefined;
  after(async () => {
    await d?.cleanup();
    await removeByLabel(`org.plancton.instance=${instance}`);
    if (d) rmSync(d.dir, { recursive: true, force: true });
  });

  it('creates /plancton at the lowest CPU weight, starts every pilot in it, and reports idle priority', async () => {
    d = new DaemonProcess(testConfig(instance, { max_docks: 2 })).start();
    const pilots = await waitFor(
      '2 running pilots',
      async () => {
        const rows = await pilotsOf(instance, 'running');
        return rows.length === 2 ? rows : undefined;
      },
      30_000,
    );

    const cpuDir = V2
      ? join(CGROUP_ROOT, 'plancton')
      : join(CGROUP_ROOT, existsSync(join(CGROUP_ROOT, 'cpu', 'cpu.shares')) ? 'cpu' : 'cpu,cpuacct', 'plancton');
    const read = (f: string): string => readFileSync(join(cpuDir, f), 'utf8').trim();
    if (existsSync(join(cpuDir, 'cpu.idle'))) assert.equal(read('cpu.idle'), '1', 'cpu.idle');
    else if (V2) assert.equal(read('cpu.weight'), '1', 'cpu.weight');
    else assert.equal(read('cpu.shares'), '2', 'cpu.shares');

    for (const p of pilots) {
      const [parent = '', pid = ''] = (
        await docker(['inspect', '-f', '{{.HostConfig.CgroupParent}} {{.State.Pid}}', p.id])
      ).split(' ');
      assert.equal(parent, '/plancton', `${p.name}: --cgroup-parent`);
      // what the kernel says, not what the engine was asked for
      assert.equal(
        cgroupOf(Number(pid), V2 ? '' : 'cpu'),
        `/plancton/${p.id}`,
        `${p.name}: the cgroup of its process ${pid}`,
      );
    }

    const status = await waitFor(
      'idle priority in status',
      () => (d?.status()?.idlePriority?.enabled ? d.status() : undefined),
      10_000,
    );
    assert.match(status?.idlePriority?.detail ?? '', /cpu\.idle=1|cpu\.shares=2|cpu\.weight=1/);
    assert.match(d.log, /pilots run at idle priority under \/plancton/);
    assert.doesNotMatch(d.log, /pilots do NOT run at idle priority/);
  });
});
