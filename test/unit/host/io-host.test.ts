/** The thin I/O around the I/O rule, on cgroup and sysfs trees built in a temporary directory. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { detectIoMechanism, type IoDetectOptions } from '../../../src/host/io-mechanism.ts';
import { IoMeter } from '../../../src/host/io-meter.ts';
import { IoThrottle } from '../../../src/host/io-throttle.ts';

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
      pilotsWriteBps: 1_000_000,
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

describe('IoMeter: pilots located from their processes (pilot-cgroups.ts)', () => {
  const DIND = 'd'.repeat(64);
  /** /proc/<pid>/cgroup of a pilot's process in cgroup v1, every controller at `path`. */
  const procCgroup = (path: string): string =>
    ['12:memory', '8:blkio', '2:cpuacct', '1:cpu'].map((c) => `${c}:${path}`).join('\n') + '\n';
  const counters = (dir: string, ios: number, bytes: number, recursive = true): Record<string, string> => {
    const r = recursive ? '_recursive' : '';
    return {
      [`${dir}/blkio.throttle.io_serviced${r}`]: blkio('254:0', 0, ios),
      [`${dir}/blkio.throttle.io_service_bytes${r}`]: blkio('254:0', 0, bytes),
    };
  };
  const write = async (root: string, files: Record<string, string>): Promise<void> => {
    for (const [path, body] of Object.entries(files)) await writeFile(join(root, path), body);
  };
  const meter = (root: string, parent: string | undefined): IoMeter =>
    new IoMeter({ procRoot: join(root, 'proc'), cgroupRoot: join(root, 'cg'), cgroupVersion: '1', parent });

  it("a Docker engine in a container: the pilots' parent inside its cgroup, not the configured path", async () => {
    const nested = `cg/blkio/docker/${DIND}/plancton`;
    const root = await tree({
      'proc/diskstats': disk(1, 1),
      'proc/10/cgroup': procCgroup(`/docker/${DIND}`), // the dind engine: the pilot's id nowhere
      'proc/20/cgroup': procCgroup(`/docker/${DIND}/plancton/${A}`),
      [`cg/cpu/docker/${DIND}/plancton/${A}/cpu.shares`]: '1024\n',
      [`cg/cpuacct/docker/${DIND}/plancton/${A}/cpuacct.usage`]: '1\n',
      [`cg/memory/docker/${DIND}/plancton/${A}/memory.stat`]: 'cache 0\ndirty 3000000\nwriteback 0\n',
      [`${nested}/${A}/cgroup.procs`]: '20\n',
      ...counters('cg/blkio', 1000, 1000),
      ...counters(nested, 100, 100),
      // Plancton's own parent at the top, where the engine did not put the pilots: a decoy
      ...counters('cg/blkio/plancton', 0, 0),
    });
    const m = meter(root, 'plancton');
    assert.equal(await m.measure([A], 0), undefined);
    assert.equal(m.parentDir, join(root, nested));
    await write(root, { ...counters('cg/blkio', 1700, 1700), ...counters(nested, 600, 600) });
    // 700 bios on the disk in 1 s, 500 of them the pilot's
    assert.equal((await m.measure([A], 1000))?.ownerIops, 200);
    assert.deepEqual(m.ioDirs([A]), new Map([[A, join(root, nested, A)]]));
    // its dirty page cache is read where it is (3 MB pending: 3 MB/s), not under /memory/plancton
    assert.deepEqual(await m.writers([A], 10, () => Promise.resolve()), new Map([[A, 3_000_000]]));
  });

  it("the systemd driver: the pilots' scopes in their slice, a scope that went makes no evidence", async () => {
    const scope = (id: string): string => `plancton.slice/docker-${id}.scope`;
    const root = await tree({
      'proc/diskstats': disk(1, 1),
      'proc/20/cgroup': procCgroup(`/${scope(A)}`),
      'proc/21/cgroup': procCgroup(`/${scope(B)}`),
      [`cg/cpu/${scope(A)}/cpu.shares`]: '2\n',
      [`cg/cpu/${scope(B)}/cpu.shares`]: '2\n',
      [`cg/blkio/${scope(A)}/x`]: '',
      [`cg/blkio/${scope(B)}/x`]: '',
      ...counters('cg/blkio', 100, 100),
      ...counters('cg/blkio/plancton.slice', 50, 50),
    });
    const m = meter(root, 'plancton.slice');
    await m.measure([A, B], 0);
    assert.equal(m.parentDir, join(root, 'cg/blkio/plancton.slice'));
    await write(root, { ...counters('cg/blkio', 400, 400), ...counters('cg/blkio/plancton.slice', 250, 250) });
    assert.equal((await m.measure([A, B], 1000))?.ownerIops, 100);
    await rm(join(root, 'cg/blkio', scope(B)), { recursive: true });
    await write(root, { ...counters('cg/blkio', 500, 500), ...counters('cg/blkio/plancton.slice', 0, 0) });
    assert.equal(await m.measure([A, B], 2000), undefined, "the parent's counters dropped with the scope");
  });

  it('pilots found under different parents: their own counters are summed', async () => {
    const root = await tree({
      'proc/diskstats': disk(1, 1),
      'proc/20/cgroup': procCgroup(`/plancton/libpod-${A}`),
      'proc/21/cgroup': procCgroup(`/docker/${DIND}/plancton/${B}`),
      [`cg/cpu/plancton/libpod-${A}/cpu.shares`]: '2\n',
      [`cg/cpu/docker/${DIND}/plancton/${B}/cpu.shares`]: '2\n',
      ...counters('cg/blkio', 100, 100),
      ...counters(`cg/blkio/plancton/libpod-${A}`, 10, 10, false),
      ...counters(`cg/blkio/docker/${DIND}/plancton/${B}`, 10, 10, false),
    });
    const m = meter(root, 'plancton');
    await m.measure([A, B], 0);
    assert.equal(m.parentDir, undefined);
    await write(root, {
      ...counters('cg/blkio', 400, 400),
      ...counters(`cg/blkio/plancton/libpod-${A}`, 110, 110, false),
      ...counters(`cg/blkio/docker/${DIND}/plancton/${B}`, 60, 60, false),
    });
    assert.equal((await m.measure([A, B], 1000))?.ownerIops, 150);
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
      pilotsWriteBps: 512_000,
      pilotWriteBps: new Map(),
    });
  });
});

describe('IoThrottle', () => {
  it("v1: limits each pilot's own cgroup while limited, a new pilot on the next pass, and lifts with 0", async () => {
    const root = await tree({ [`blkio/plancton/${A}/x`]: '', [`blkio/plancton/${B}/x`]: '' });
    const t = new IoThrottle({ cgroupRoot: root, cgroupVersion: '1', parent: 'plancton', bps: 1048576 });
    const dirs = (ids: string[]): Map<string, string> =>
      new Map(ids.map((id) => [id, join(root, 'blkio/plancton', id)]));
    assert.deepEqual(await t.apply(true, dirs([A]), ['254:0']), []);
    assert.equal(
      await readFile(join(root, `blkio/plancton/${A}/blkio.throttle.write_bps_device`), 'utf8'),
      '254:0 1048576\n',
    );
    assert.equal(
      await readFile(join(root, `blkio/plancton/${A}/blkio.throttle.read_bps_device`), 'utf8'),
      '254:0 1048576\n',
    );
    await t.apply(true, dirs([A, B]), ['254:0']);
    assert.deepEqual(t.limited, [A, B]);
    await t.apply(false, dirs([A, B]), ['254:0']);
    assert.equal(
      await readFile(join(root, `blkio/plancton/${B}/blkio.throttle.write_bps_device`), 'utf8'),
      '254:0 0\n',
    );
    assert.deepEqual(t.limited, []);
  });
  it('v1: a write that fails is reported, not thrown, and the pilot is not counted as limited', async () => {
    const root = await tree({});
    const t = new IoThrottle({ cgroupRoot: root, cgroupVersion: '1', parent: 'plancton', bps: 1 });
    const errors = await t.apply(true, new Map([[A, join(root, 'blkio/plancton', A)]]), ['254:0']);
    assert.match(errors[0] ?? '', /blkio.throttle.write_bps_device: ENOENT/);
    assert.deepEqual(t.limited, []);
  });
  it('v2: io.max on the parent, lifted with max', async () => {
    const root = await tree({ 'plancton/io.max': '' });
    const t = new IoThrottle({ cgroupRoot: root, cgroupVersion: '2', parent: 'plancton', bps: 2000 });
    await t.apply(true, new Map([[A, join(root, 'plancton', A)]]), ['8:0']);
    assert.equal(await readFile(join(root, 'plancton/io.max'), 'utf8'), '8:0 rbps=2000 wbps=2000\n');
    await t.apply(false, new Map([[A, join(root, 'plancton', A)]]), ['8:0']);
    assert.equal(await readFile(join(root, 'plancton/io.max'), 'utf8'), '8:0 rbps=max wbps=max\n');
  });
  it('v2: io.max on the parent where the pilots were found, lifted there', async () => {
    const root = await tree({ 'system.slice/docker-x.scope/plancton.slice/io.max': '', 'plancton.slice/io.max': '' });
    const t = new IoThrottle({ cgroupRoot: root, cgroupVersion: '2', parent: 'plancton.slice', bps: 2000 });
    const found = join(root, 'system.slice/docker-x.scope/plancton.slice');
    await t.apply(true, new Map([[A, join(found, `docker-${A}.scope`)]]), ['8:0'], found);
    assert.equal(await readFile(join(found, 'io.max'), 'utf8'), '8:0 rbps=2000 wbps=2000\n');
    assert.equal(await readFile(join(root, 'plancton.slice/io.max'), 'utf8'), '');
    await t.apply(false, new Map(), ['8:0']);
    assert.equal(await readFile(join(found, 'io.max'), 'utf8'), '8:0 rbps=max wbps=max\n');
  });
});
