/** The thin I/O around the I/O rule, on cgroup and sysfs trees built in a temporary directory. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { detectIoMechanism, type IoDetectOptions } from '../../src/host/io-mechanism.ts';
import { IoMeter } from '../../src/host/io-meter.ts';
import { IoThrottle } from '../../src/host/io-throttle.ts';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'plancton-io-'));
  dirs.push(root);
  for (const [path, body] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), body);
  }
  return root;
}
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const disk = (ios: number, sectors: number): string =>
  ` 254       0 vda ${ios} 0 ${sectors} 0 ${ios} 0 ${sectors} 0 0 0 0 0 0 0 0 0 0\n   7       0 loop0 9 0 9 0 9 0 9 0 0 0 0 0 0 0 0 0 0\n`;
const blkio = (dev: string, read: number, write: number): string =>
  `${dev} Read ${read}\n${dev} Write ${write}\n${dev} Sync 0\n${dev} Async 0\n${dev} Discard 0\n${dev} Total ${read + write}\nTotal ${read + write}\n`;

describe('detectIoMechanism', () => {
  const base = (root: string, o: Partial<IoDetectOptions> = {}): IoDetectOptions => ({
    cgroupRoot: join(root, 'cg'),
    sysRoot: join(root, 'sys'),
    cgroupVersion: '1',
    parent: 'plancton',
    wanted: 'auto',
    disks: ['vda'],
    ...o,
  });
  it('cgroup v1, mq-deadline (this machine): auto pauses, and says why neither weight nor throttle', async () => {
    const root = await tree({
      'sys/block/vda/queue/scheduler': 'none [mq-deadline] kyber bfq\n',
      'cg/blkio/blkio.throttle.write_bps_device': '',
    });
    const s = await detectIoMechanism(base(root));
    assert.equal(s.mechanism, 'pause');
    assert.match(
      s.detail,
      /vda:mq-deadline.*not BFQ.*throttle: cgroup v1 charges background writeback to the root cgroup/,
    );
  });
  it('cgroup v1 with BFQ: auto sets the lowest BFQ weight but still pauses; weight when asked for', async () => {
    const root = await tree({
      'sys/block/vda/queue/scheduler': 'mq-deadline kyber [bfq] none\n',
      'cg/blkio/blkio.throttle.write_bps_device': '',
    });
    assert.equal((await detectIoMechanism(base(root))).mechanism, 'pause');
    assert.equal(await readFile(join(root, 'cg/blkio/plancton/blkio.bfq.weight'), 'utf8'), '1\n');
    const w = await detectIoMechanism(base(root, { wanted: 'weight' }));
    assert.equal(w.mechanism, 'weight');
    assert.match(w.detail, /blkio.bfq.weight=1; cgroup v1: background writeback/);
  });
  it('cgroup v1, throttle asked for: per pilot, with the v1 caveat', async () => {
    const root = await tree({
      'sys/block/vda/queue/scheduler': '[mq-deadline]\n',
      'cg/blkio/blkio.throttle.write_bps_device': '',
    });
    const t = await detectIoMechanism(base(root, { wanted: 'throttle' }));
    assert.deepEqual([t.mechanism, /on each pilot.*fsync/.test(t.detail)], ['throttle', true]);
  });
  it('cgroup v2: io.bfq.weight under BFQ, io.weight under io.cost, io.max otherwise, none without the io controller', async () => {
    const bfq = await tree({
      'sys/block/vda/queue/scheduler': '[bfq]\n',
      'cg/plancton/io.bfq.weight': 'default 100\n',
      'cg/plancton/cgroup.controllers': 'cpu io memory',
    });
    assert.equal((await detectIoMechanism(base(bfq, { cgroupVersion: '2' }))).mechanism, 'weight');
    assert.equal(await readFile(join(bfq, 'cg/plancton/io.bfq.weight'), 'utf8'), 'default 1\n');
    const cost = await tree({
      'sys/block/vda/queue/scheduler': '[none]\n',
      'cg/io.cost.qos': '254:0 enable=1 ctrl=auto rpct=0.00\n',
      'cg/plancton/io.weight': 'default 100\n',
    });
    assert.match(
      (await detectIoMechanism(base(cost, { cgroupVersion: '2' }))).detail,
      /io.weight=default 1 \(io.cost\)/,
    );
    const max = await tree({
      'sys/block/vda/queue/scheduler': '[mq-deadline]\n',
      'cg/plancton/cgroup.controllers': 'cpu io memory',
    });
    assert.equal((await detectIoMechanism(base(max, { cgroupVersion: '2' }))).mechanism, 'throttle');
    const none = await tree({
      'sys/block/vda/queue/scheduler': '[mq-deadline]\n',
      'cg/plancton/cgroup.controllers': 'cpu memory',
    });
    const t = await detectIoMechanism(base(none, { cgroupVersion: '2', wanted: 'throttle' }));
    assert.deepEqual(
      [t.mechanism, t.detail],
      ['none', `no I/O throttle possible (no io controller in ${join(none, 'cg/plancton')})`],
    );
  });
  it('off is off', async () => {
    assert.deepEqual(await detectIoMechanism(base('/nonexistent', { wanted: 'off' })), {
      mechanism: 'none',
      detail: 'off (io_mechanism off)',
    });
  });
});

describe('IoMeter (cgroup v1 layout)', () => {
  const rootFiles = (ios: number, bytes: number): Record<string, string> => ({
    'cg/blkio/blkio.throttle.io_serviced_recursive':
      blkio('254:0', 10, ios) + blkio('7:0', 0, 5000).replace(/^Total.*\n/m, ''),
    'cg/blkio/blkio.throttle.io_service_bytes_recursive': blkio('254:0', 4096, bytes),
  });
  const parentFiles = (ios: number, bytes: number): Record<string, string> => ({
    'cg/blkio/plancton/blkio.throttle.io_serviced_recursive': blkio('254:0', 0, ios),
    'cg/blkio/plancton/blkio.throttle.io_service_bytes_recursive': blkio('254:0', 0, bytes),
  });
  const write = async (root: string, files: Record<string, string>): Promise<void> => {
    for (const [path, body] of Object.entries(files)) await writeFile(join(root, path), body);
  };

  it("the owner is the root cgroup's bios less the pilots' parent's, per second, loop devices aside", async () => {
    const root = await tree({
      'proc/diskstats': disk(100, 800),
      'proc/pressure/io': 'some avg10=1.50 avg60=0 avg300=0 total=1\nfull avg10=0 avg60=0 avg300=0 total=1\n',
      ...rootFiles(100, 1_000_000),
      ...parentFiles(50, 900_000),
      [`cg/blkio/plancton/${A}/tasks`]: '',
    });
    const m = new IoMeter({
      procRoot: join(root, 'proc'),
      cgroupRoot: join(root, 'cg'),
      cgroupVersion: '1',
      parent: '/plancton',
    });
    assert.equal(await m.measure([], 1000), undefined, 'the first reading is a baseline');
    await write(root, { ...rootFiles(400, 4_000_000), ...parentFiles(150, 2_900_000) });
    // 2 s later: 300 bios on vda, 100 of them the pilots'
    assert.deepEqual(await m.measure([], 3000), {
      ownerIops: 100,
      ownerBps: 500_000,
      psiSomeAvg10: 1.5,
      pilotWriteBps: new Map(),
    });
    assert.deepEqual([...m.devices], [['254:0', 'vda']]);
  });

  it("an interval in which a pilot's cgroup came or went is no evidence (the parent's counters drop with a removed child)", async () => {
    const root = await tree({
      'proc/diskstats': disk(1, 1),
      ...rootFiles(100, 100),
      ...parentFiles(50, 50),
      [`cg/blkio/plancton/${A}/tasks`]: '',
    });
    const m = new IoMeter({
      procRoot: join(root, 'proc'),
      cgroupRoot: join(root, 'cg'),
      cgroupVersion: '1',
      parent: 'plancton',
    });
    await m.measure([], 0);
    await rm(join(root, `cg/blkio/plancton/${A}`), { recursive: true });
    await write(root, { ...rootFiles(300, 300), ...parentFiles(0, 0) });
    assert.equal(await m.measure([], 1000), undefined);
    await write(root, rootFiles(310, 310));
    assert.equal((await m.measure([], 2000))?.ownerIops, 10);
  });

  it("without a parent cgroup the pilots' own counters are summed", async () => {
    const root = await tree({
      'proc/diskstats': disk(1, 1),
      ...rootFiles(100, 100),
      [`cg/blkio/docker/${A}/blkio.throttle.io_serviced`]: blkio('254:0', 0, 10),
      [`cg/blkio/docker/${A}/blkio.throttle.io_service_bytes`]: blkio('254:0', 0, 10),
    });
    const m = new IoMeter({
      procRoot: join(root, 'proc'),
      cgroupRoot: join(root, 'cg'),
      cgroupVersion: '1',
      parent: undefined,
    });
    await m.measure([A], 0);
    await write(root, {
      ...rootFiles(300, 300),
      [`cg/blkio/docker/${A}/blkio.throttle.io_serviced`]: blkio('254:0', 0, 160),
    });
    assert.equal((await m.measure([A], 1000))?.ownerIops, 50);
  });

  it('writers: charged writes, and buffered writes by the growth of the dirty page cache (v1 writes them back as the root)', async () => {
    const root = await tree({
      'proc/diskstats': disk(1, 1),
      [`cg/blkio/plancton/${A}/blkio.throttle.io_serviced`]: blkio('254:0', 0, 1),
      [`cg/blkio/plancton/${A}/blkio.throttle.io_service_bytes`]: blkio('254:0', 0, 1000),
      [`cg/blkio/plancton/${B}/blkio.throttle.io_serviced`]: 'Total 0\n',
      [`cg/blkio/plancton/${B}/blkio.throttle.io_service_bytes`]: 'Total 0\n',
      [`cg/memory/plancton/${B}/memory.stat`]: 'cache 0\ndirty 0\nwriteback 0\n',
    });
    const m = new IoMeter({
      procRoot: join(root, 'proc'),
      cgroupRoot: join(root, 'cg'),
      cgroupVersion: '1',
      parent: 'plancton',
    });
    await m.measure([], 0); // names the disks
    const w = await m.writers([A, B, 'c'.repeat(64)], 1000, async () => {
      await writeFile(
        join(root, `cg/blkio/plancton/${A}/blkio.throttle.io_service_bytes`),
        blkio('254:0', 0, 5_001_000),
      );
      await writeFile(join(root, `cg/memory/plancton/${B}/memory.stat`), 'cache 0\ndirty 2000000\nwriteback 1000000\n');
    });
    assert.equal(w.size, 2, 'a pilot without any figure is left out');
    assert.ok((w.get(A) ?? 0) > 4_000_000 && (w.get(A) ?? 0) <= 5_000_000, String(w.get(A)));
    assert.ok((w.get(B) ?? 0) > 2_400_000 && (w.get(B) ?? 0) <= 3_000_000, String(w.get(B)));
  });

  it('writers: a pilot whose counters stand still over the window but holds dirty or writeback pages (in its fsync) is writing', async () => {
    const root = await tree({
      'proc/diskstats': disk(1, 1),
      [`cg/memory/plancton/${A}/memory.stat`]: 'cache 0\ndirty 1000000\nwriteback 3000000\n',
    });
    const m = new IoMeter({
      procRoot: join(root, 'proc'),
      cgroupRoot: join(root, 'cg'),
      cgroupVersion: '1',
      parent: 'plancton',
    });
    assert.deepEqual(await m.writers([A], 100, () => Promise.resolve()), new Map([[A, 4_000_000]]));
  });
});

describe('IoMeter (cgroup v2 layout)', () => {
  it("the owner is the disks' requests less the pilots' parent's io.stat", async () => {
    const root = await tree({
      'proc/diskstats': disk(100, 800),
      'cg/plancton/io.stat': '254:0 rbytes=0 wbytes=1000 rios=0 wios=10 dbytes=0 dios=0\n',
    });
    const m = new IoMeter({
      procRoot: join(root, 'proc'),
      cgroupRoot: join(root, 'cg'),
      cgroupVersion: '2',
      parent: 'plancton',
    });
    await m.measure([], 0);
    await writeFile(join(root, 'proc/diskstats'), disk(200, 1800)); // 200 requests (reads+writes), 2000 sectors
    await writeFile(join(root, 'cg/plancton/io.stat'), '254:0 rbytes=0 wbytes=513000 rios=0 wios=60 dbytes=0 dios=0\n');
    assert.deepEqual(await m.measure([], 1000), {
      ownerIops: 150,
      ownerBps: 2000 * 512 - 512_000,
      psiSomeAvg10: undefined,
      pilotWriteBps: new Map(),
    });
  });
});

describe('IoThrottle', () => {
  it("v1: limits each pilot's own cgroup while limited, a new pilot on the next pass, and lifts with 0", async () => {
    const root = await tree({ [`blkio/plancton/${A}/x`]: '', [`blkio/plancton/${B}/x`]: '' });
    const t = new IoThrottle({ cgroupRoot: root, cgroupVersion: '1', parent: 'plancton', bps: 1048576 });
    assert.deepEqual(await t.apply(true, [A], ['254:0']), []);
    assert.equal(
      await readFile(join(root, `blkio/plancton/${A}/blkio.throttle.write_bps_device`), 'utf8'),
      '254:0 1048576\n',
    );
    assert.equal(
      await readFile(join(root, `blkio/plancton/${A}/blkio.throttle.read_bps_device`), 'utf8'),
      '254:0 1048576\n',
    );
    await t.apply(true, [A, B], ['254:0']);
    assert.deepEqual(t.limited, [A, B]);
    await t.apply(false, [A, B], ['254:0']);
    assert.equal(
      await readFile(join(root, `blkio/plancton/${B}/blkio.throttle.write_bps_device`), 'utf8'),
      '254:0 0\n',
    );
    assert.deepEqual(t.limited, []);
  });
  it('v1: a write that fails is reported, not thrown, and the pilot is not counted as limited', async () => {
    const root = await tree({});
    const t = new IoThrottle({ cgroupRoot: root, cgroupVersion: '1', parent: 'plancton', bps: 1 });
    const errors = await t.apply(true, [A], ['254:0']);
    assert.match(errors[0] ?? '', /blkio.throttle.write_bps_device: ENOENT/);
    assert.deepEqual(t.limited, []);
  });
  it('v2: io.max on the parent, lifted with max', async () => {
    const root = await tree({ 'plancton/io.max': '' });
    const t = new IoThrottle({ cgroupRoot: root, cgroupVersion: '2', parent: 'plancton', bps: 2000 });
    await t.apply(true, [A], ['8:0']);
    assert.equal(await readFile(join(root, 'plancton/io.max'), 'utf8'), '8:0 rbps=2000 wbps=2000\n');
    await t.apply(false, [A], ['8:0']);
    assert.equal(await readFile(join(root, 'plancton/io.max'), 'utf8'), '8:0 rbps=max wbps=max\n');
  });
});
