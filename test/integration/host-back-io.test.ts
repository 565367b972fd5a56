/**
 * The disk given back, on the real engine and kernel, on a disk that has never had a throttle
 * rule (a fresh loop device with ext4, test/support/fresh-disk.ts), as every disk of a freshly
 * booted host is: a pilot that writes and syncs large files there is paused (io_mechanism auto on
 * cgroup v1) or throttled (io_mechanism throttle) while an owner process on the host does small
 * synced writes there, and released once the owner stops. status says how the I/O is metered
 * (counting switched on by Plancton for that disk). What status reports is checked against the
 * cgroup files the kernel keeps for the pilot; the pilots' parent cgroup is named per run and
 * removed after.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, logRecords, pilotsOf, testConfig, type PilotRow } from '../support/daemon.ts';
import { freezerState, hostIoFacts, ownerSyncWriter, writeLimits, writerCmd } from '../support/io-host.ts';
import { freshLoopDisk, throttleCounts, type FreshDisk } from '../support/fresh-disk.ts';
import { removeCgroup } from '../support/host.ts';

const engineSkip = await requireEngine('busybox');
const facts = hostIoFacts();
const skip =
  engineSkip || (facts.v1 ? false : 'these checks read cgroup v1 files (freezer, blkio); this host runs cgroup v2');
const BPS = 2 * 1024 * 1024;

const events = (log: string, event: string): Array<Record<string, unknown>> =>
  logRecords(log).filter((r) => r.event === event);

/** The owner process: started and ended by the test body. */
interface Owner {
  start(): void;
  end(): Promise<void>;
}

function suite(
  name: string,
  extra: Record<string, unknown>,
  body: (d: DaemonProcess, pilot: PilotRow, owner: Owner, parent: string, disk: FreshDisk) => Promise<void>,
): void {
  describe(name, { skip, timeout: 240_000 }, () => {
    const instance = randomInstance();
    const parent = `plancton-test-${instance}`;
    let disk: FreshDisk | undefined;
    let d: DaemonProcess | undefined;
    let proc: ReturnType<typeof ownerSyncWriter> | undefined;
    const owner: Owner = {
      start: () => {
        proc = ownerSyncWriter(join(disk?.mount ?? '/nonexistent', 'owner'));
      },
      end: async () => {
        proc?.kill('SIGKILL');
        await proc?.catch(() => undefined);
        proc = undefined;
      },
    };
    after(async () => {
      await owner.end();
      await d?.cleanup();
      await removeByLabel(`org.plancton.instance=${instance}`);
      removeCgroup(parent);
      await disk?.remove();
      if (d) rmSync(d.dir, { recursive: true, force: true });
    });
    it(name, async () => {
      disk = await freshLoopDisk(512, true);
      assert.equal(throttleCounts(disk.dev), false, `${disk.name} has never had a throttle rule`);
      // cpus_per_dock stays 0.05 (testConfig): pilots start on a host whose CPU others keep busy, and
      // dd from /dev/zero needs little CPU. The owner counts as busy at 300 requests/s of its own (a synced 4 KiB write is ~3 bios:
      // data, journal, flush); other engines' and tests' I/O on this shared host stays mostly under it
      d = new DaemonProcess(
        testConfig(instance, {
          max_docks: 1,
          max_dock_mem: 256 * 1024 * 1024,
          cgroup_parent: parent,
          io_devices: [disk.name],
          binds: [`${disk.mount ?? ''}:/data`],
          docker_cmd: writerCmd(32, '/data'),
          io_owner_iops: 300,
          io_quiet: 2,
          pause_max: 600,
          ...extra,
        }),
      ).start();
      const [pilot] = await waitFor(
        'a running pilot',
        async () => {
          const rows = await pilotsOf(instance, 'running');
          return rows.length === 1 ? rows : undefined;
        },
        60_000,
      );
      assert.ok(pilot);
      // the pilot writes before the owner comes: wait for its second file
      await waitFor(
        'the pilot writing',
        async () =>
          Number(await docker(['exec', pilot.id, 'sh', '-c', 'wc -l < /w 2>/dev/null || echo 0'])) >= 2
            ? true
            : undefined,
        60_000,
        500,
      );
      // status says how the pilots' I/O is metered: counted on the fresh disk, switched on by Plancton
      const metering = await waitFor('status with the metering', () => d?.status()?.io?.metering, 30_000);
      assert.deepEqual([metering.counted, metering.switchedOn, metering.blind], [[disk.name], [disk.name], []]);
      assert.equal(throttleCounts(disk.dev), true);
      await body(d, pilot, owner, parent, disk);
    });
  });
}

suite(
  'cgroup v1, io_mechanism auto: the writing pilot is frozen while the owner writes, thawed after',
  {},
  async (d, pilot, owner, parent, disk) => {
    const io = await waitFor('status with the disk', () => d.status()?.io, 30_000);
    // cgroup v1 charges background writeback to the root cgroup: auto pauses, whatever the scheduler
    assert.equal(io.mechanism, 'pause');
    assert.match(io.detail, new RegExp(`schedulers ${disk.name}:`));
    await waitFor(
      'a quiet owner and the pilot thawed',
      () => (!d.status()?.io?.ownerBusy && freezerState(pilot.id, parent) === 'THAWED' ? true : undefined),
      90_000,
      500,
    );

    owner.start();
    await waitFor(
      'the pilot frozen by the kernel',
      () => (freezerState(pilot.id, parent) === 'FROZEN' ? true : undefined),
      60_000,
    );
    const paused = await waitFor(
      'a pilot-paused event for the disk',
      () => events(d.log, 'pilot-paused').find((e) => e.id === pilot.id),
      10_000,
    );
    assert.equal(paused.reason, 'owner-io');
    const busy = await waitFor(
      'status: owner busy, the pilot paused for it',
      () => {
        const s = d.status()?.io;
        return s?.ownerBusy && s.paused.includes(pilot.name) ? s : undefined;
      },
      10_000,
    );
    assert.equal(busy.mechanism, 'pause');
    assert.equal(await docker(['inspect', '-f', '{{.State.Paused}}', pilot.id]), 'true');

    await owner.end();
    await waitFor('the pilot thawed', () => (freezerState(pilot.id, parent) === 'THAWED' ? true : undefined), 90_000);
    await waitFor(
      'a pilot-resumed event for the disk',
      () =>
        events(d.log, 'pilot-resumed').some((e) => e.id === pilot.id && e.reason === 'owner-io-quiet')
          ? true
          : undefined,
      10_000,
    );
    assert.equal(d.status()?.removals.length, 0, 'nothing removed');
    const lines = Number(await docker(['exec', pilot.id, 'sh', '-c', 'wc -l < /w']));
    await waitFor(
      'the same pilot writing again',
      async () => (Number(await docker(['exec', pilot.id, 'sh', '-c', 'wc -l < /w'])) > lines ? true : undefined),
      60_000,
      500,
    );
  },
);

suite(
  "cgroup v1, io_mechanism throttle: the pilot's own blkio limit is written while the owner writes, lifted after",
  { io_mechanism: 'throttle', io_throttle_bps: BPS },
  async (d, pilot, owner, parent) => {
    const io = await waitFor('status with the disk', () => d.status()?.io, 30_000);
    assert.equal(io.mechanism, 'throttle');
    assert.match(io.detail, /on each pilot.*fsync/);
    // other tests' and engines' I/O on this shared host may count as the owner's for a while
    await waitFor(
      'a quiet owner and no limit',
      () => (!d.status()?.io?.ownerBusy && writeLimits(pilot.id, parent).length === 0 ? true : undefined),
      90_000,
      500,
    );

    owner.start();
    const limits = await waitFor(
      "a write limit in the pilot's cgroup",
      () => {
        const l = writeLimits(pilot.id, parent);
        return l.length > 0 ? l : undefined;
      },
      60_000,
    );
    for (const line of limits) assert.match(line, new RegExp(`^\\d+:\\d+ ${BPS}$`));
    await waitFor(
      'status: owner busy, the pilot limited',
      () => (d.status()?.io?.limited.includes(pilot.id) ? true : undefined),
      10_000,
    );

    await owner.end();
    await waitFor('the limit lifted', () => (writeLimits(pilot.id, parent).length === 0 ? true : undefined), 90_000);
    await waitFor('status: nothing limited', () => (d.status()?.io?.limited.length === 0 ? true : undefined), 10_000);
    assert.equal((await pilotsOf(d.status()?.instance ?? '')).length, 1);
  },
);
