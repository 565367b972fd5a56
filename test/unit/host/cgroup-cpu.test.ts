import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ProcParseError } from '../../../src/core/errors.ts';
import {
  containerCpuPaths,
  parseCpuacctUsage,
  parseCpuStat,
  readContainerCpuNs,
} from '../../../src/host/cgroup-cpu.ts';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), 'utf8');
const ID = 'bd6623e595dfdf2a5ab24bb0538ab23abaa1c762b879ceb09c6fab9d1442f72d';

describe('containerCpuPaths', () => {
  it('lists v1 cgroupfs, v1 systemd, v2, then hybrid candidates', () => {
    assert.deepEqual(containerCpuPaths('/sys/fs/cgroup/', ID), [
      `/sys/fs/cgroup/cpuacct/docker/${ID}/cpuacct.usage`,
      `/sys/fs/cgroup/cpu,cpuacct/docker/${ID}/cpuacct.usage`,
      `/sys/fs/cgroup/cpu,cpuacct/system.slice/docker-${ID}.scope/cpuacct.usage`,
      `/sys/fs/cgroup/cpuacct/system.slice/docker-${ID}.scope/cpuacct.usage`,
      `/sys/fs/cgroup/system.slice/docker-${ID}.scope/cpu.stat`,
      `/sys/fs/cgroup/docker/${ID}/cpu.stat`,
      `/sys/fs/cgroup/unified/docker/${ID}/cpu.stat`,
      `/sys/fs/cgroup/unified/system.slice/docker-${ID}.scope/cpu.stat`,
    ]);
  });

  it('puts a --cgroup-parent path in place of docker', () => {
    assert.deepEqual(containerCpuPaths('/host/cgroup', ID, '/plancton/pilots/'), [
      `/host/cgroup/cpuacct/plancton/pilots/${ID}/cpuacct.usage`,
      `/host/cgroup/cpu,cpuacct/plancton/pilots/${ID}/cpuacct.usage`,
      `/host/cgroup/cpu,cpuacct/system.slice/docker-${ID}.scope/cpuacct.usage`,
      `/host/cgroup/cpuacct/system.slice/docker-${ID}.scope/cpuacct.usage`,
      `/host/cgroup/system.slice/docker-${ID}.scope/cpu.stat`,
      `/host/cgroup/plancton/pilots/${ID}/cpu.stat`,
      `/host/cgroup/unified/plancton/pilots/${ID}/cpu.stat`,
      `/host/cgroup/unified/system.slice/docker-${ID}.scope/cpu.stat`,
    ]);
  });

  it('puts a --cgroup-parent slice in place of system.slice too', () => {
    const paths = containerCpuPaths('/sys/fs/cgroup', ID, 'plancton.slice');
    assert.equal(paths[2], `/sys/fs/cgroup/cpu,cpuacct/plancton.slice/docker-${ID}.scope/cpuacct.usage`);
    assert.equal(paths[4], `/sys/fs/cgroup/plancton.slice/docker-${ID}.scope/cpu.stat`);
  });

  it('uses docker for an empty parent', () => {
    assert.deepEqual(containerCpuPaths('/r', ID, '/'), containerCpuPaths('/r', ID));
  });

  it('refuses a short or foreign id, which could never match and could escape the root', () => {
    assert.throws(() => containerCpuPaths('/r', ID.slice(0, 12)), RangeError);
    assert.throws(() => containerCpuPaths('/r', '../../etc'), RangeError);
  });
});

describe('parseCpuacctUsage', () => {
  it('reads nanoseconds from a real cpuacct.usage', () => {
    assert.equal(parseCpuacctUsage(fixture('cgroup/cpuacct.usage')), 3_009_100_973);
  });

  it('throws ProcParseError naming the file on anything else', () => {
    assert.throws(
      () => parseCpuacctUsage(fixture('proc/garbage'), '/x/cpuacct.usage'),
      (err: unknown) => {
        assert.ok(err instanceof ProcParseError);
        assert.equal(err.file, '/x/cpuacct.usage');
        return true;
      },
    );
    assert.throws(() => parseCpuacctUsage(''), {
      name: 'ProcParseError',
      message: /^cpuacct.usage: expected nanoseconds/,
    });
    assert.throws(() => parseCpuacctUsage('-5\n'), ProcParseError);
  });
});

describe('parseCpuStat', () => {
  it('reads usage_usec from a real cpu.stat as nanoseconds', () => {
    assert.equal(parseCpuStat(fixture('cgroup/cpu.stat')), 3_010_955_000);
  });

  it('throws ProcParseError naming the file without usage_usec', () => {
    assert.throws(() => parseCpuStat('user_usec 5\nsystem_usec 6\n', '/x/cpu.stat'), {
      name: 'ProcParseError',
      message: '/x/cpu.stat: no "usage_usec N" line',
    });
    assert.throws(() => parseCpuStat(fixture('proc/garbage')), ProcParseError);
  });
});

describe('readContainerCpuNs', () => {
  let root: string;
  const put = async (relative: string, content: string): Promise<void> => {
    await mkdir(dirname(join(root, relative)), { recursive: true });
    await writeFile(join(root, relative), content);
  };
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'plancton-cgroup-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reads the v1 cgroupfs layout (this machine)', async () => {
    await put(`cpuacct/docker/${ID}/cpuacct.usage`, fixture('cgroup/cpuacct.usage'));
    assert.equal(await readContainerCpuNs(root, ID), 3_009_100_973);
  });

  it('reads the v1 systemd layout', async () => {
    await put(`cpu,cpuacct/system.slice/docker-${ID}.scope/cpuacct.usage`, '42\n');
    assert.equal(await readContainerCpuNs(root, ID), 42);
  });

  it('reads the v2 layouts, converting microseconds', async () => {
    await put(`docker/${ID}/cpu.stat`, fixture('cgroup/cpu.stat'));
    assert.equal(await readContainerCpuNs(root, ID), 3_010_955_000);
    await put(`system.slice/docker-${ID}.scope/cpu.stat`, 'usage_usec 7\n');
    assert.equal(await readContainerCpuNs(root, ID), 7000);
  });

  it('prefers v1 cpuacct over the hybrid v2 file', async () => {
    await put(`unified/docker/${ID}/cpu.stat`, 'usage_usec 1\n');
    assert.equal(await readContainerCpuNs(root, ID), 1000);
    await put(`cpuacct/docker/${ID}/cpuacct.usage`, '5\n');
    assert.equal(await readContainerCpuNs(root, ID), 5);
  });

  it('follows --cgroup-parent', async () => {
    await put(`cpuacct/plancton/pilots/${ID}/cpuacct.usage`, '9\n');
    assert.equal(await readContainerCpuNs(root, ID), undefined);
    assert.equal(await readContainerCpuNs(root, ID, '/plancton/pilots'), 9);
  });

  it('returns undefined when no candidate exists', async () => {
    assert.equal(await readContainerCpuNs(root, ID), undefined);
    assert.equal(await readContainerCpuNs(join(root, 'nowhere'), ID), undefined);
  });

  it('throws ProcParseError naming the file when the file found is malformed', async () => {
    await put(`cpuacct/docker/${ID}/cpuacct.usage`, 'garbage\n');
    await assert.rejects(readContainerCpuNs(root, ID), {
      name: 'ProcParseError',
      file: join(root, `cpuacct/docker/${ID}/cpuacct.usage`),
    });
  });
});
