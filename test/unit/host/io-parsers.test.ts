import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ProcParseError } from '../../../src/core/errors.ts';
import { parseBlkioStat } from '../../../src/host/blkio-stat.ts';
import { parseDiskstats, physicalDisks } from '../../../src/host/diskstats.ts';
import { parseIoStat } from '../../../src/host/io-stat.ts';
import { parseProcIoWrites } from '../../../src/host/proc-io.ts';
import { parseDirtyBytes } from '../../../src/host/memory-stat.ts';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), 'utf8');

describe('parseDiskstats', () => {
  it('reads a real 17-counter /proc/diskstats (kernel 6.18, virtio disk)', () => {
    const stats = parseDiskstats(fixture('proc/diskstats'));
    assert.equal(stats.length, 10);
    const vda = stats.find((s) => s.name === 'vda');
    assert.deepEqual(vda, {
      dev: '254:0',
      name: 'vda',
      readsCompleted: 28833,
      sectorsRead: 1301490,
      writesCompleted: 288790,
      sectorsWritten: 172753424,
      ioTicksMs: 87416,
      discardsCompleted: 73023,
    });
  });

  it('reads the 11-counter lines of kernels before 4.18, discards as 0', () => {
    const sda = parseDiskstats(fixture('proc/diskstats.4.14')).find((s) => s.name === 'sda');
    assert.deepEqual(sda, {
      dev: '8:0',
      name: 'sda',
      readsCompleted: 114513,
      sectorsRead: 9381498,
      writesCompleted: 386216,
      sectorsWritten: 16702386,
      ioTicksMs: 290604,
      discardsCompleted: 0,
    });
  });

  it('keeps only physical whole disks: no partition, loop, zram or device-mapper', () => {
    assert.deepEqual(
      physicalDisks(parseDiskstats(fixture('proc/diskstats'))).map((s) => s.name),
      ['vda'],
    );
    assert.deepEqual(
      physicalDisks(parseDiskstats(fixture('proc/diskstats.4.14'))).map((s) => s.name),
      ['sda', 'sdb', 'nvme0n1'],
    );
  });

  it('names the file and the line on malformed input', () => {
    assert.throws(
      () => parseDiskstats('8 0 sda 1 2 3\n', '/host/proc/diskstats'),
      (e: unknown) => e instanceof ProcParseError && /\/host\/proc\/diskstats.*at least 14 fields.*sda/.test(e.message),
    );
    assert.throws(() => parseDiskstats('8 0 sda 1 2 3 4 5 6 7 x 9 10 11\n'), /malformed counter/);
    assert.deepEqual(parseDiskstats(''), []);
  });
});

describe('parseBlkioStat (cgroup v1)', () => {
  it('reads real bytes and request counts of a writing container, discards apart', () => {
    assert.deepEqual(
      parseBlkioStat(fixture('cgroup/v1-blkio/pilot.blkio.throttle.io_service_bytes')),
      new Map([['254:0', { read: 0, write: 2550452224, discard: 2550136832 }]]),
    );
    assert.deepEqual(
      parseBlkioStat(fixture('cgroup/v1-blkio/pilot.blkio.throttle.io_serviced')),
      new Map([['254:0', { read: 0, write: 723, discard: 42 }]]),
    );
    assert.deepEqual(
      parseBlkioStat(fixture('cgroup/v1-blkio/parent.blkio.throttle.io_service_bytes_recursive')).get('254:0')?.write,
      2550452224,
    );
  });

  it('gives an empty map for a cgroup without I/O yet (only the Total line)', () => {
    assert.deepEqual(parseBlkioStat('Total 0\n'), new Map());
  });

  it('names the line it cannot read', () => {
    assert.throws(
      () => parseBlkioStat('254:0 Written 12\n', 'x/blkio.throttle.io_serviced'),
      (e: unknown) =>
        e instanceof ProcParseError &&
        /x\/blkio.throttle.io_serviced: unexpected line "254:0 Written 12"/.test(e.message),
    );
    assert.throws(() => parseBlkioStat('Total many\n'), /malformed total/);
  });
});

describe('parseIoStat (cgroup v2, fixtures from the kernel documentation)', () => {
  it('reads every device line', () => {
    assert.deepEqual(
      parseIoStat(fixture('cgroup/v2-io/io.stat')),
      new Map([
        ['8:16', { rbytes: 1459200, wbytes: 314773504, rios: 192, wios: 353, dbytes: 0, dios: 0 }],
        ['8:0', { rbytes: 90430464, wbytes: 299008000, rios: 8950, wios: 1252, dbytes: 50331648, dios: 3021 }],
      ]),
    );
  });

  it('skips the keys io.cost adds', () => {
    assert.deepEqual(parseIoStat(fixture('cgroup/v2-io/io.stat.iocost')).get('259:0'), {
      rbytes: 4096,
      wbytes: 1048576,
      rios: 1,
      wios: 256,
      dbytes: 0,
      dios: 0,
    });
  });

  it('names the problem', () => {
    assert.throws(() => parseIoStat('sda rbytes=1\n'), /no MAJ:MIN in "sda rbytes=1"/);
    assert.throws(
      () => parseIoStat('8:0 wbytes=-1\n', 'p/io.stat'),
      (e: unknown) => e instanceof ProcParseError && /p\/io.stat: malformed wbytes/.test(e.message),
    );
    assert.deepEqual(parseIoStat(''), new Map());
  });
});

describe('parseProcIoWrites', () => {
  it('gives write_bytes less cancelled_write_bytes of a real process (dockerd on this machine)', () => {
    assert.equal(parseProcIoWrites(fixture('proc/pid-io')), 1521709056 - 82149376);
  });
  it('never goes below 0, and names a missing line', () => {
    assert.equal(parseProcIoWrites('write_bytes: 4096\ncancelled_write_bytes: 8192\n'), 0);
    assert.throws(
      () => parseProcIoWrites('rchar: 1\nwrite_bytes: 5\n', '/proc/7/io'),
      (e: unknown) =>
        e instanceof ProcParseError && /\/proc\/7\/io: missing or malformed cancelled_write_bytes/.test(e.message),
    );
  });
});

describe('parseDirtyBytes', () => {
  it('v1: dirty + writeback of a real writing container', () => {
    assert.equal(parseDirtyBytes(fixture('cgroup/v1-memory.stat')), 12619776);
  });
  it('v2: file_dirty + file_writeback (fixture from the kernel documentation)', () => {
    assert.equal(parseDirtyBytes(fixture('cgroup/v2-io/memory.stat')), 8388608 + 4194304);
  });
  it('names what is missing', () => {
    assert.throws(
      () => parseDirtyBytes('cache 1\ndirty 5\n', 'x/memory.stat'),
      (e: unknown) => e instanceof ProcParseError && /x\/memory.stat: missing or malformed writeback/.test(e.message),
    );
  });
});
