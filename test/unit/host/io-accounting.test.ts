/**
 * IoAccounting on fixture cgroup trees: which disks are counted, the no-op rule written for the
 * others (cgroup v1), and the status line when nothing can be seen. The kernel's side (a disk
 * listed, so counted, once the rule is written) is checked on a fresh loop device by
 * test/integration/io-meter-engines.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { IoAccounting } from '../../../src/host/io-accounting.ts';
import { formatStatus, type IoStatus, type StatusReport } from '../../../src/report/status.ts';

const DISKS = new Map([
  ['254:0', 'vda'],
  ['7:300', 'loop300'],
]);

/** A v1 blkio root whose listing names `listed` (the disks blk-throttle counts). */
function v1Root(listed: readonly string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'plancton-io-accounting-'));
  mkdirSync(join(root, 'blkio'));
  const lines = listed.flatMap((d) =>
    ['Read', 'Write', 'Sync', 'Async', 'Discard', 'Total'].map((op) => `${d} ${op} 0`),
  );
  writeFileSync(join(root, 'blkio', 'blkio.throttle.io_serviced'), [...lines, 'Total 0', ''].join('\n'));
  return root;
}

describe('IoAccounting', () => {
  it('cgroup v1: a listed disk is counted and left alone; an unlisted one gets the no-op rule, and stays blind if the kernel still does not list it', async () => {
    const root = v1Root(['254:0']);
    const a = new IoAccounting({ cgroupRoot: root, cgroupVersion: '1' });
    const m = await a.ensure(DISKS);
    // "MAJ:MIN 0" is "no limit": nothing is limited, and no rule of anyone's is removed (the disk had none)
    assert.equal(readFileSync(join(root, 'blkio', 'blkio.throttle.read_bps_device'), 'utf8'), '7:300 0\n');
    assert.deepEqual(m.counted, ['vda']);
    assert.deepEqual(m.switchedOn, []);
    assert.equal(m.blind.length, 1);
    assert.equal(m.blind[0]?.disk, 'loop300');
    assert.match(m.blind[0]?.why ?? '', /does not list 7:300 .* even after a no-op rule/);
    assert.equal(a.blind, false, 'one disk counted: the meter sees that one');
  });

  it('cgroup v1: no blkio listing at all is blind on every disk, with the file named', async () => {
    const root = mkdtempSync(join(tmpdir(), 'plancton-io-accounting-'));
    const a = new IoAccounting({ cgroupRoot: root, cgroupVersion: '1' });
    const m = await a.ensure(DISKS);
    assert.equal(a.blind, true);
    assert.deepEqual(
      m.blind.map((b) => b.disk),
      ['vda', 'loop300'],
    );
    assert.match(m.blind[0]?.why ?? '', /cannot read .*blkio\.throttle\.io_serviced/);
    assert.equal(existsSync(join(root, 'blkio', 'blkio.throttle.read_bps_device')), false, 'nothing written');
  });

  it('cgroup v2: counted from the first byte where the io controller is enabled; blind without it', async () => {
    const on = mkdtempSync(join(tmpdir(), 'plancton-io-accounting-'));
    writeFileSync(join(on, 'cgroup.subtree_control'), 'cpuset cpu io memory pids\n');
    const seen = await new IoAccounting({ cgroupRoot: on, cgroupVersion: '2' }).ensure(DISKS);
    assert.deepEqual([seen.counted, seen.blind], [['vda', 'loop300'], []]);
    assert.match(seen.how, /io\.stat \(counted from the first byte\)/);
    assert.equal(existsSync(join(on, 'io.max')), false, 'nothing written on v2');

    const off = mkdtempSync(join(tmpdir(), 'plancton-io-accounting-'));
    writeFileSync(join(off, 'cgroup.subtree_control'), 'cpu memory\n');
    const a = new IoAccounting({ cgroupRoot: off, cgroupVersion: '2' });
    const blind = await a.ensure(DISKS);
    assert.equal(a.blind, true);
    assert.match(blind.blind[0]?.why ?? '', /io controller is not enabled in .*cgroup\.subtree_control/);
  });

  it("status: says how the pilots' I/O is metered, and BLIND (never 'pause') when nothing is counted", () => {
    const io = (metering: IoStatus['metering']): StatusReport =>
      ({
        pid: 1,
        version: 't',
        instance: 'i',
        hostname: 'h',
        state: 'active',
        startedAt: 0,
        updatedAt: 0,
        iterations: 1,
        config: { source: 's', hash: 'h', mainSleep: 30, maxDocks: 1 },
        engine: { reachable: true },
        controls: { drain: false, drainStop: false, forceStop: false },
        pilots: [],
        removals: [],
        io: { mechanism: 'pause', detail: 'd', metering, ownerBusy: false, paused: [], limited: [] },
      }) as unknown as StatusReport;
    const how = 'cgroup v1 blkio.throttle counters';
    const seeing = formatStatus(
      io({ how, counted: ['vda'], switchedOn: ['vda'], blind: [{ disk: 'sdb', why: 'EACCES' }] }),
      0,
      true,
    );
    assert.match(
      seeing,
      /^disk: {5}pause \(d\); metered by cgroup v1 blkio.throttle counters: counted on vda \(switched on by Plancton for vda, with a no-op rule\); NOT counted on sdb: EACCES, owner quiet$/m,
    );
    const blind = formatStatus(
      io({ how, counted: [], switchedOn: [], blind: [{ disk: 'vda', why: 'EACCES' }] }),
      0,
      true,
    );
    assert.match(blind, /^disk: {5}BLIND: Plancton cannot see the pilots' I\/O \(vda: EACCES\), so nothing is paused/m);
    assert.doesNotMatch(blind, /^disk: {5}pause/m);
  });
});
