/**
 * The I/O meter finds a writing pilot's cgroups where the kernel put them, on the real engines:
 * the host's Docker 20.10 (`/<parent>/<id>`) and Docker 26 in a container (the chart's dind mode,
 * `/docker/<dind id>/<parent>/<id>`, where a path built from the configured parent finds nothing).
 * What the meter reads is checked against the host's /proc/<pid>/cgroup and the kernel's counters.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { IoMeter } from '../../src/host/io-meter.ts';
import { REQUIRE_ENGINE_ENV, TEST_RUN_LABEL, waitFor } from '../support/docker.ts';
import { CGROUP_ROOT } from '../support/bench-host.ts';
import { hostIoFacts, writerCmd } from '../support/io-host.ts';

interface Engine {
  readonly name: string;
  readonly socket: string;
  /** The pilots' blkio cgroup is nested in the engine's own container. */
  readonly nested: boolean;
}
const ENGINES: Engine[] = [
  { name: 'Docker 20.10 (host engine)', socket: '/var/run/docker.sock', nested: false },
  {
    name: 'Docker 26 (dind)',
    socket: process.env.PLANCTON_DOCKER26_SOCKET ?? '/run/plancton-docker26/docker.sock',
    nested: true,
  },
];

const run = randomBytes(4).toString('hex');
const PARENT = `plancton-io-${run}`;
const dockerAt = async (e: Engine, args: readonly string[]): Promise<string> => {
  const r = await execa('docker', ['--host', `unix://${e.socket}`, ...args], { reject: false, timeout: 60_000 });
  if (r.failed) throw new Error(`docker ${args.join(' ')} on ${e.name} failed: ${r.stderr || r.shortMessage}`);
  return r.stdout.trim();
};
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
  const made: Array<{ e: Engine; dir?: string }> = [];
  after(async () => {
    for (const { e, dir } of made) {
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
    it(`${e.name}: the writing pilot's blkio cgroup and parent are found from its processes`, { skip }, async () => {
      const entry: { e: Engine; dir?: string } = { e };
      made.push(entry);
      const id = await dockerAt(e, [
        'run',
        '-d',
        '--label',
        `${TEST_RUN_LABEL}=${run}`,
        '--cgroup-parent',
        `/${PARENT}`,
        '--memory',
        String(256 * 1024 * 1024),
        'busybox',
        ...writerCmd(16),
      ]);
      const path = await waitFor('the container in the host kernel', () => blkioOf(id), 30_000);
      entry.dir = dirname(path).replace(/^\//, '');
      if (e.nested) assert.match(path, new RegExp(`^/docker/[0-9a-f]{64}/${PARENT}/${id}$`));
      else assert.equal(path, `/${PARENT}/${id}`);
      const found = join(CGROUP_ROOT, 'blkio', path);

      const m = new IoMeter({ procRoot: '/proc', cgroupRoot: CGROUP_ROOT, cgroupVersion: '1', parent: PARENT });
      await m.measure([id], Date.now());
      assert.deepEqual(m.ioDirs([id]), new Map([[id, found]]));
      assert.equal(m.parentDir, dirname(found), 'the parent the engine really made');
      // the writes are seen in the cgroup found: the charged bytes or the dirty page cache
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
      // and the parent's recursive counters, which the owner's reading subtracts, are its own
      const own = readFileSync(join(found, 'blkio.throttle.io_service_bytes'), 'utf8');
      const parent = readFileSync(join(dirname(found), 'blkio.throttle.io_service_bytes_recursive'), 'utf8');
      const total = (t: string): number => Number(/^Total (\d+)$/m.exec(t)?.[1] ?? NaN);
      assert.ok(total(parent) >= total(own) && total(own) > 0, `parent ${total(parent)}, pilot ${total(own)}`);
    });
  }
});
