/**
 * The disk given back, on the real engine and kernel: a pilot that writes and syncs large files
 * is paused (io_mechanism auto on cgroup v1) or throttled (io_mechanism throttle) while an owner
 * process on the host does small synced writes, and released once the owner stops. What status
 * reports is checked against the cgroup files the kernel keeps for the pilot.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker, randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, logRecords, pilotsOf, testConfig, type PilotRow } from '../support/daemon.ts';
import { freezerState, hostIoFacts, ownerSyncWriter, writeLimits, writerCmd } from '../support/io-host.ts';

const engineSkip = await requireEngine('busybox');
const facts = hostIoFacts();
const skip =
  engineSkip || (facts.v1 ? false : 'these checks read cgroup v1 files (freezer, blkio); this host runs cgroup v2');
const PARENT = 'plancton';
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
  body: (d: DaemonProcess, pilot: PilotRow, owner: Owner) => Promise<void>,
): void {
  describe(name, { skip, timeout: 240_000 }, () => {
    const instance = randomInstance();
    const ownerFile = join(tmpdir(), `plancton-io-owner-${instance}`);
    let d: DaemonProcess | undefined;
    let proc: ReturnType<typeof ownerSyncWriter> | undefined;
    const owner: Owner = {
      start: () => {
        proc = ownerSyncWriter(ownerFile);
      },
      end: async () => {
        proc?.kill('SIGKILL');
        await proc?.catch(() => undefined);
        proc = undefined;
      },
    };
    after(async () => {
      await owner.end();
      rmSync(ownerFile, { force: true });
      await d?.cleanup();
      await removeByLabel(`org.plancton.instance=${instance}`);
      if (d) rmSync(d.dir, { recursive: true, force: true });
    });
    it(name, async () => {
      // cpus_per_dock stays 0.05 (testConfig): pilots start on a host whose CPU others keep busy, and
      // dd from /dev/zero needs little CPU. The owner counts as busy at 300 requests/s of its own (a synced 4 KiB write is ~3 bios:
      // data, journal, flush); other engines' and tests' I/O on this shared host stays mostly under it
      d = new DaemonProcess(
        testConfig(instance, {
          max_docks: 1,
          max_dock_mem: 256 * 1024 * 1024,
          docker_cmd: writerCmd(32),
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
      await body(d, pilot, owner);
    });
  });
}

suite(
  'cgroup v1, io_mechanism auto: the writing pilot is frozen while the owner writes, thawed after',
  {},
  async (d, pilot, owner) => {
    const io = await waitFor('status with the disk', () => d.status()?.io, 30_000);
    // cgroup v1 charges background writeback to the root cgroup: auto pauses, whatever the scheduler
    assert.equal(io.mechanism, 'pause');
    assert.match(io.detail, new RegExp(`schedulers .*${facts.schedulers[0] ?? ''}`));
    await waitFor(
      'a quiet owner and the pilot thawed',
      () => (!d.status()?.io?.ownerBusy && freezerState(pilot.id, PARENT) === 'THAWED' ? true : undefined),
      90_000,
      500,
    );

    owner.start();
    await waitFor(
      'the pilot frozen by the kernel',
      () => (freezerState(pilot.id, PARENT) === 'FROZEN' ? true : undefined),
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
    await waitFor('the pilot thawed', () => (freezerState(pilot.id, PARENT) === 'THAWED' ? true : undefined), 90_000);
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
  async (d, pilot, owner) => {
    const io = await waitFor('status with the disk', () => d.status()?.io, 30_000);
    assert.equal(io.mechanism, 'throttle');
    assert.match(io.detail, /on each pilot.*fsync/);
    // other tests' and engines' I/O on this shared host may count as the owner's for a while
    await waitFor(
      'a quiet owner and no limit',
      () => (!d.status()?.io?.ownerBusy && writeLimits(pilot.id, PARENT).length === 0 ? true : undefined),
      90_000,
      500,
    );

    owner.start();
    const limits = await waitFor(
      "a write limit in the pilot's cgroup",
      () => {
        const l = writeLimits(pilot.id, PARENT);
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
    await waitFor('the limit lifted', () => (writeLimits(pilot.id, PARENT).length === 0 ? true : undefined), 90_000);
    await waitFor('status: nothing limited', () => (d.status()?.io?.limited.length === 0 ? true : undefined), 10_000);
    assert.equal((await pilotsOf(d.status()?.instance ?? '')).length, 1);
  },
);
