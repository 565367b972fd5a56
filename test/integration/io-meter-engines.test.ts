/**
 * The I/O meter on the real engines and kernel, on a disk that has never had a throttle rule (a
 * fresh loop device, test/support/fresh-disk.ts), as every disk of a freshly booted host is:
 *   - on cgroup v1 the kernel counts nothing there at first: a pilot writing to it with O_DIRECT
 *     is charged 0 bytes, and the disk is not listed in any blkio.throttle file;
 *   - IoAccounting (what the daemon runs at start) switches counting on with a no-op rule, limiting
 *     nothing; from then on the pilot's writes are charged to its own cgroup and its parent's;
 *   - the meter finds the writing pilot's cgroups where the kernel put them: the host's Docker
 *     20.10 (`/<parent>/<id>`) and Docker 26 in a container (the chart's dind mode,
 *     `/docker/<dind id>/<parent>/<id>`, where a path built from the configured parent finds nothing).
 * What the meter reads is checked against the host's /proc/<pid>/cgroup and the kernel's counters.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { IoMeter } from '../../src/host/io-meter.ts';
import { IoAccounting } from '../../src/host/io-accounting.ts';
import { DOCKER26_SOCKET, REQUIRE_ENGINE_ENV, TEST_RUN_LABEL, docker, dockerOn, waitFor } from '../support/docker.ts';
import { CGROUP_ROOT } from '../support/host.ts';
import { deviceWriterCmd, hostIoFacts } from '../support/io-host.ts';
import { freshLoopDisk, throttleCounts, type FreshDisk } from '../support/fresh-disk.ts';

interface Engine {
  readonly name: string;
  readonly socket: string;
  /** The pilots' blkio cgroup is nested in the engine's own container, of this name on the host engine. */
  readonly nested: string | undefined;
}
const ENGINES: Engine[] = [
  { name: 'Docker 20.10 (host engine)', socket: '/var/run/docker.sock', nested: undefined },
  {
    name: 'Docker 26 (dind)',
    socket: DOCKER26_SOCKET,
    nested: process.env.PLANCTON_DOCKER26_NAME ?? 'plancton-ci-docker26',
  },
];

const run = randomBytes(4).toString('hex');
const PARENT = `plancton-io-${run}`;
const dockerAt = (e: Engine, args: readonly string[]): Promise<string> => dockerOn(e.socket, e.name, args, 60_000);
const answers = async (e: Engine): Promise<boolean> =>
  (
    await execa('docker', ['--host', `unix://${e.socket}`, 'image', 'inspect', 'busybox'], {
      reject: false,
      timeout: 30_000,
    })
  ).exitCode === 0;

/** The blkio cgroup of the container's processes as the host kernel shows it (any process naming the id). */
function blkioOf(id: string): string | undefined {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      continue;
    }
    const line = text.split('\n').find((l) => l.split(':')[1]?.split(',').includes('blkio'));
    const path = line?.split(':').slice(2).join(':');
    if (path?.endsWith(id)) return path;
  }
  return undefined;
}

const facts = hostIoFacts();
const present = await Promise.all(ENGINES.map(answers));

describe('IoMeter on the real engines', { concurrency: 1, timeout: 180_000 }, () => {
  const made: Array<{ e: Engine; dir?: string; disk?: FreshDisk }> = [];
  after(async () => {
    for (const { e, dir, disk } of made) {
      const ids = await dockerAt(e, ['ps', '-aq', '--filter', `label=${TEST_RUN_LABEL}=${run}`]).catch(() => '');
      if (ids) await dockerAt(e, ['rm', '-f', ...ids.split('\n')]).catch(() => undefined);
      // the engines leave the emptied parent behind, in every hierarchy
      if (dir)
        for (const c of readdirSync(CGROUP_ROOT)) {
          try {
            if (existsSync(join(CGROUP_ROOT, c, dir))) rmdirSync(join(CGROUP_ROOT, c, dir));
          } catch {
            // still holding a process being removed: the engine's own clean-up leaves it then
          }
        }
      if (disk && e.nested) await docker(['exec', e.nested, 'rm', '-f', disk.path]).catch(() => undefined);
      await disk?.remove();
    }
  });

  for (const [i, e] of ENGINES.entries()) {
    const skip = !facts.v1
      ? 'reads cgroup v1 blkio files; this host runs cgroup v2'
      : present[i]
        ? false
        : `${e.name} does not answer on ${e.socket} (or has no busybox image)`;
    if (skip && process.env[REQUIRE_ENGINE_ENV] === '1' && facts.v1)
      throw new Error(`${REQUIRE_ENGINE_ENV}=1 but ${skip}`);
    it(
      `${e.name}: on a never-ruled disk, counting is off until IoAccounting switches it on; then the writing pilot's cgroup and parent are found and charged`,
      { skip },
      async () => {
        const disk = await freshLoopDisk(256);
        const entry: { e: Engine; dir?: string; disk?: FreshDisk } = { e, disk };
        made.push(entry);
        // the engine in a container has its own /dev, made when it started: give it the new node
        if (e.nested)
          await docker([
            'exec',
            e.nested,
            'sh',
            '-c',
            `[ -e ${disk.path} ] || mknod ${disk.path} b ${disk.dev.replace(':', ' ')}`,
          ]);
        const id = await dockerAt(e, [
          'run',
          '-d',
          '--label',
          `${TEST_RUN_LABEL}=${run}`,
          '--cgroup-parent',
          `/${PARENT}`,
          '--memory',
          String(256 * 1024 * 1024),
          '--device',
          `${disk.path}:/dev/xdisk`,
          'busybox',
          ...deviceWriterCmd(16, '/dev/xdisk'),
        ]);
        const path = await waitFor('the container in the host kernel', () => blkioOf(id), 30_000);
        entry.dir = dirname(path).replace(/^\//, '');
        if (e.nested) assert.match(path, new RegExp(`^/docker/[0-9a-f]{64}/${PARENT}/${id}$`));
        else assert.equal(path, `/${PARENT}/${id}`);
        const found = join(CGROUP_ROOT, 'blkio', path);
        const written = (file: string): number | undefined => {
          const line = readFileSync(file, 'utf8')
            .split('\n')
            .find((l) => l.startsWith(`${disk.dev} Write `));
          return line === undefined ? undefined : Number(line.split(' ')[2]);
        };
        const lines = async (): Promise<number> =>
          Number(await dockerAt(e, ['exec', id, 'sh', '-c', 'wc -l < /w 2>/dev/null || echo 0']));

        // a fresh host: the pilot writes, and the kernel counts none of it
        await waitFor(
          'the pilot writing to the disk',
          async () => ((await lines()) >= 2 ? true : undefined),
          60_000,
          200,
        );
        assert.equal(throttleCounts(disk.dev), false, `${disk.name} is not listed by blk-throttle before the rule`);
        assert.equal(
          written(join(found, 'blkio.throttle.io_service_bytes')),
          undefined,
          'nothing charged to the pilot',
        );

        const m = new IoMeter({
          procRoot: '/proc',
          cgroupRoot: CGROUP_ROOT,
          cgroupVersion: '1',
          parent: PARENT,
          devices: [disk.name],
        });
        await m.measure([id], Date.now());
        assert.deepEqual(
          [...m.devices.values()],
          [disk.name],
          'a disk named in io_devices is metered, loop device or not',
        );
        const metering = await new IoAccounting({ cgroupRoot: CGROUP_ROOT, cgroupVersion: '1' }).ensure(m.devices);
        assert.deepEqual([metering.counted, metering.switchedOn, metering.blind], [[disk.name], [disk.name], []]);
        assert.equal(throttleCounts(disk.dev), true, 'listed, so counted, from now on');
        const rules = readFileSync(join(CGROUP_ROOT, 'blkio', 'blkio.throttle.read_bps_device'), 'utf8');
        assert.doesNotMatch(rules, new RegExp(`^${disk.dev} `, 'm'), 'no limit was left on the disk');

        assert.deepEqual(m.ioDirs([id]), new Map([[id, found]]));
        assert.equal(m.parentDir, dirname(found), 'the parent the engine really made');
        // the writes are seen in the cgroup found
        const bps = await waitFor(
          'the pilot writing over 1 MiB/s',
          async () => {
            const w = (await m.writers([id], 500)).get(id) ?? 0;
            return w > 1024 * 1024 ? w : undefined;
          },
          60_000,
          0,
        );
        assert.ok(bps > 1024 * 1024, String(bps));
        // and the parent's recursive counters, which the owner's reading subtracts, hold its own
        const own = written(join(found, 'blkio.throttle.io_service_bytes')) ?? 0;
        const parent = written(join(dirname(found), 'blkio.throttle.io_service_bytes_recursive')) ?? 0;
        assert.ok(parent >= own && own > 0, `parent ${parent}, pilot ${own}`);
      },
    );
  }
});
