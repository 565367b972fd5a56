/** IoWatch between passes: when it wakes the loop, what a pass takes, and what status shows. */
import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import type { IoPolicy, IoReading } from '../../../src/core/rules/io.ts';
import type { Pilot } from '../../../src/core/decision.ts';
import { IO_POLL_FAST_MS } from '../../../src/core/rules/io.ts';
import { IO_WATCH_MS, IoWatch } from '../../../src/daemon/io-watch.ts';
import type { IoMeter } from '../../../src/host/io-meter.ts';
import { IoAccounting } from '../../../src/host/io-accounting.ts';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const policy: IoPolicy = { mechanism: 'pause', ownerIops: 100, psiPct: 0, quietMs: 3000, pilotWriteBps: 1e6 };
const reading = (ownerIops: number): IoReading => ({ ownerIops, ownerBps: ownerIops * 4096, pilotWriteBps: new Map() });
const pilot = (id: string, state: Pilot['state'] = 'running'): Pilot => ({
  id,
  name: `n-${id}`,
  pilotId: id,
  state,
  image: 'busybox',
  configHash: 'h',
  createdAt: 0,
  startedAt: 0,
});

/** A meter that answers from a script; `writersAsked` records the pilots asked about. */
function fakeMeter(
  readings: Array<IoReading | undefined>,
  writes: Record<string, number> = {},
): IoMeter & { writersAsked: string[][] } {
  const asked: string[][] = [];
  return {
    devices: new Map([['254:0', 'vda']]),
    writersAsked: asked,
    measure: () => Promise.resolve(readings.shift()),
    writers: (ids: readonly string[]) => {
      asked.push([...ids]);
      return Promise.resolve(new Map(ids.filter((id) => id in writes).map((id) => [id, writes[id] ?? 0])));
    },
  } as unknown as IoMeter & { writersAsked: string[][] };
}

/** Accounting on a cgroup v2 tree (a fixture directory) whose root enables the io controller, or not. */
function counted(io = true): IoAccounting {
  const root = mkdtempSync(join(tmpdir(), 'plancton-io-watch-'));
  writeFileSync(join(root, 'cgroup.subtree_control'), io ? 'cpu io memory pids\n' : 'cpu memory pids\n');
  return new IoAccounting({ cgroupRoot: root, cgroupVersion: '2' });
}

/** Lets the watch's reading (a chain of promises) finish after a timer tick. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 50; i++) await Promise.resolve();
};

describe('IoWatch', () => {
  afterEach(() => mock.timers.reset());

  it('wakes the loop on the first reading over the line, asks who writes, and hands the pass the busiest reading', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    // the owner's rate is the median of the last three readings: 10; 10 (of 10, 500); 500 (of 10, 500, 600); 500 (of 500, 600, 50)
    const meter = fakeMeter([reading(10), reading(500), reading(600), reading(50)], { a: 5e6 });
    const w = new IoWatch({ mechanism: 'pause', detail: 'd' }, meter, counted());
    w.take([pilot('a'), pilot('b', 'paused')]);
    let wakes = 0;
    w.start(
      () => policy,
      () => wakes++,
      () => false,
    );
    for (let i = 0; i < 4; i++) {
      mock.timers.tick(IO_WATCH_MS);
      await settle();
      if (i === 1) assert.equal(wakes, 0, 'one burst is not the owner on the disk');
    }
    assert.equal(wakes, 2, 'woken while the owner stays on the disk and a pilot writes');
    assert.deepEqual(meter.writersAsked, [['a'], ['a']], 'only running pilots, only while the owner is on the disk');
    const r = w.take([pilot('a', 'paused')]);
    assert.equal(r?.ownerIops, 500, 'the busiest (median) reading since the last pass');
    assert.equal(w.take([]), undefined, 'taken once');
    w.close();
  });

  it('while the pilots write heavily: the next reading a fast period later; two over the line wake the loop', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const heavy = (ownerIops: number): IoReading => ({ ...reading(ownerIops), pilotsWriteBps: 5e6 });
    const meter = fakeMeter([heavy(10), heavy(500), heavy(600)], { a: 5e6 });
    const w = new IoWatch({ mechanism: 'pause', detail: 'd' }, meter, counted());
    w.take([pilot('a')]);
    let wakes = 0;
    w.start(
      () => policy,
      () => wakes++,
      () => false,
    );
    mock.timers.tick(IO_WATCH_MS);
    await settle();
    mock.timers.tick(IO_POLL_FAST_MS);
    await settle();
    assert.equal(wakes, 0, 'one reading over the line is a burst');
    mock.timers.tick(IO_POLL_FAST_MS);
    await settle();
    assert.equal(wakes, 1, 'woken a fast period later by the second');
    const r = w.take([pilot('a', 'paused')]);
    assert.deepEqual([r?.ownerIops, r?.pilotsWriteBps], [500, 5e6]);
    assert.deepEqual(r?.pilotWriteBps, new Map([['a', 5e6]]));
    w.close();
  });

  it('while the owner is already busy, wakes only for a writer still to pause', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const w1 = new IoWatch({ mechanism: 'pause', detail: 'd' }, fakeMeter([reading(500)], { a: 10 }), counted());
    w1.take([pilot('a')]);
    let wakes = 0;
    w1.start(
      () => policy,
      () => wakes++,
      () => true,
    );
    mock.timers.tick(IO_WATCH_MS);
    await settle();
    assert.equal(wakes, 0);
    w1.close();
    const w2 = new IoWatch({ mechanism: 'pause', detail: 'd' }, fakeMeter([reading(500)], { a: 2e6 }), counted());
    w2.take([pilot('a')]);
    w2.start(
      () => policy,
      () => wakes++,
      () => true,
    );
    mock.timers.tick(IO_WATCH_MS);
    await settle();
    assert.equal(wakes, 1);
    w2.close();
  });

  it('a reading that fails shows in status, and the next good one clears it', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const meter = fakeMeter([]);
    let fail = true;
    (meter as unknown as { measure: () => Promise<IoReading | undefined> }).measure = () =>
      fail ? Promise.reject(new Error('EACCES')) : Promise.resolve(reading(3));
    const w = new IoWatch({ mechanism: 'pause', detail: 'd' }, meter, counted());
    w.take([pilot('a')]);
    w.start(
      () => policy,
      () => undefined,
      () => false,
    );
    mock.timers.tick(IO_WATCH_MS);
    await settle();
    assert.equal(w.status(undefined, []).error, 'cannot read the disks: EACCES');
    fail = false;
    mock.timers.tick(IO_WATCH_MS);
    await settle();
    const s = w.status({ state: { paused: ['a'] }, ownerBusy: true, limit: false, pause: [], resume: [] }, [
      pilot('a', 'paused'),
      pilot('b'),
    ]);
    assert.deepEqual(s, {
      mechanism: 'pause',
      detail: 'd',
      metering: {
        how: 'cgroup v2 io.stat (counted from the first byte)',
        counted: ['vda'],
        switchedOn: [],
        blind: [],
      },
      ownerBusy: true,
      ownerIops: 3,
      ownerBps: 12288,
      paused: ['n-a'],
      limited: [],
      error: undefined,
    });
    w.close();
  });

  it('reads no disk without a pilot to cut back, nor with no mechanism at all', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    let reads = 0;
    const counting = (setup: ConstructorParameters<typeof IoWatch>[0]): IoWatch => {
      const meter = fakeMeter([]);
      (meter as unknown as { measure: () => Promise<IoReading | undefined> }).measure = () => {
        reads++;
        return Promise.resolve(reading(500));
      };
      return new IoWatch(setup, meter, counted());
    };
    const idle = counting({ mechanism: 'pause', detail: 'd' });
    idle.start(
      () => policy,
      () => undefined,
      () => false,
    );
    const off = counting({ mechanism: 'none', detail: 'off (io_mechanism off)' });
    off.take([pilot('a')]);
    off.start(
      () => policy,
      () => undefined,
      () => false,
    );
    for (let i = 0; i < 5; i++) {
      mock.timers.tick(IO_WATCH_MS);
      await settle();
    }
    assert.equal(reads, 0);
    assert.equal(idle.status(undefined, []).ownerIops, undefined);
    // a pilot appears: the disks are read from the next tick on
    idle.take([pilot('a')]);
    mock.timers.tick(IO_WATCH_MS);
    await settle();
    assert.equal(reads, 1);
    idle.close();
    off.close();
  });

  it('blind where the kernel counts no cgroup: the rule gets no mechanism, and status says why', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const w = new IoWatch({ mechanism: 'pause', detail: 'd' }, fakeMeter([reading(500)], { a: 5e6 }), counted(false));
    assert.equal(w.mechanism, 'pause', 'before the first check nothing is known to be blind');
    await w.ensureCounted();
    assert.equal(w.mechanism, 'none');
    assert.equal(w.metering.counted.length, 0);
    assert.match(w.metering.blind[0]?.why ?? '', /io controller is not enabled/);
    assert.equal(w.metering.blind[0]?.disk, 'vda');
    const seeing = new IoWatch({ mechanism: 'pause', detail: 'd' }, fakeMeter([]), counted(true));
    await seeing.ensureCounted();
    assert.equal(seeing.mechanism, 'pause');
  });

  it('a disk that appears later gets its counting switched on at the reading that finds it (cgroup v1)', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const root = mkdtempSync(join(tmpdir(), 'plancton-io-watch-v1-'));
    mkdirSync(join(root, 'blkio'));
    // the kernel counts vda already; sdb, when it comes, is not listed
    writeFileSync(join(root, 'blkio', 'blkio.throttle.io_serviced'), '254:0 Read 0\n254:0 Write 0\nTotal 0\n');
    const meter = fakeMeter([reading(3), reading(3)]);
    const w = new IoWatch(
      { mechanism: 'pause', detail: 'd' },
      meter,
      new IoAccounting({ cgroupRoot: root, cgroupVersion: '1' }),
    );
    await w.ensureCounted();
    assert.deepEqual(w.metering.counted, ['vda']);
    const rule = join(root, 'blkio', 'blkio.throttle.read_bps_device');
    assert.equal(existsSync(rule), false, 'nothing written for a counted disk');
    w.take([pilot('a')]);
    w.start(
      () => policy,
      () => undefined,
      () => false,
    );
    (meter.devices as Map<string, string>).set('8:16', 'sdb');
    mock.timers.tick(IO_WATCH_MS);
    await settle();
    assert.equal(readFileSync(rule, 'utf8'), '8:16 0\n', 'the no-op rule for the new disk');
    assert.deepEqual(w.metering.counted, ['vda']);
    assert.deepEqual(
      w.metering.blind.map((b) => b.disk),
      ['sdb'],
      'still unlisted by the fixture kernel: blind, and said',
    );
    w.close();
  });
});
