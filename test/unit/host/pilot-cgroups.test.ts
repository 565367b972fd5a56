/** Locating pilots from their processes' /proc/<pid>/cgroup (lines as these engines write them), and reading their priority back. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PilotCgroupLocator, parseProcCgroup, pilotCgroupOf } from '../../../src/host/pilot-cgroups.ts';
import { readPilotPriority } from '../../../src/host/pilot-priority.ts';

const ID = 'a'.repeat(60) + '1234';
const DIND = 'd'.repeat(64);
/** cgroup v1, as seen on this project's CI host (cgroupfs driver): a Docker 26 pilot inside a dind container. */
const V1_DIND = [
  `12:memory:/docker/${DIND}/plancton/${ID}`,
  `7:blkio:/docker/${DIND}/plancton/${ID}`,
  `2:cpuacct:/docker/${DIND}/plancton/${ID}`,
  `1:cpu:/docker/${DIND}/plancton/${ID}`,
  `0::/docker/${DIND}/plancton/${ID}`,
].join('\n');
const V1_PODMAN = [
  `4:memory:/plancton/libpod-${ID}`,
  `2:cpuacct:/plancton/libpod-${ID}`,
  `1:cpu:/plancton/libpod-${ID}`,
].join('\n');
const V2_SYSTEMD = `0::/system.slice/docker-${ID}.scope\n`;

describe('parseProcCgroup / pilotCgroupOf', () => {
  it('v1 with separate cpu and cpuacct hierarchies (Docker in Docker)', () => {
    const c = pilotCgroupOf('/sys/fs/cgroup', parseProcCgroup(V1_DIND), ['blkio', 'cpu', 'cpuacct', 'memory']);
    assert.equal(c?.cpuRoot, '/sys/fs/cgroup/cpu');
    assert.equal(c?.cpuDir, `/sys/fs/cgroup/cpu/docker/${DIND}/plancton/${ID}`);
    assert.equal(c?.cpuUsageFile, `/sys/fs/cgroup/cpuacct/docker/${DIND}/plancton/${ID}/cpuacct.usage`);
    assert.equal(c?.memoryFile, `/sys/fs/cgroup/memory/docker/${DIND}/plancton/${ID}/memory.usage_in_bytes`);
    assert.equal(c?.ioDir, `/sys/fs/cgroup/blkio/docker/${DIND}/plancton/${ID}`);
    assert.equal(c?.memoryDir, `/sys/fs/cgroup/memory/docker/${DIND}/plancton/${ID}`);
    // a hierarchy that is not mounted has no directory
    assert.equal(pilotCgroupOf('/r', parseProcCgroup(V1_DIND), ['cpu', 'cpuacct'])?.ioDir, undefined);
  });

  it("v1 with cpu,cpuacct joined (Podman's libpod-<id>)", () => {
    const c = pilotCgroupOf('/h', parseProcCgroup(V1_PODMAN), ['cpu,cpuacct', 'memory']);
    assert.equal(c?.cpuDir, `/h/cpu,cpuacct/plancton/libpod-${ID}`);
    assert.equal(c?.cpuUsageFile, `/h/cpu,cpuacct/plancton/libpod-${ID}/cpuacct.usage`);
  });

  it('v2 (systemd scope)', () => {
    const c = pilotCgroupOf('/h', parseProcCgroup(V2_SYSTEMD), ['cgroup.controllers', 'system.slice']);
    assert.equal(c?.cpuRoot, '/h');
    assert.equal(c?.cpuUsageFile, `/h/system.slice/docker-${ID}.scope/cpu.stat`);
    assert.equal(c?.memoryFile, `/h/system.slice/docker-${ID}.scope/memory.current`);
    assert.equal(c?.ioDir, `/h/system.slice/docker-${ID}.scope`);
  });
});

describe('PilotCgroupLocator and readPilotPriority on a fake host', () => {
  it("finds a pilot by the id in its processes' own cgroup, not an ancestor's; reads the idle group back", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plancton-locate-'));
    try {
      const proc = join(dir, 'proc');
      const cg = join(dir, 'cg');
      // pid 10: the dind engine itself (the pilot's id nowhere); pid 20: the pilot's process
      mkdirSync(join(proc, '10'), { recursive: true });
      writeFileSync(join(proc, '10', 'cgroup'), `1:cpu:/docker/${DIND}\n2:cpuacct:/docker/${DIND}\n`);
      mkdirSync(join(proc, '20'), { recursive: true });
      writeFileSync(join(proc, '20', 'cgroup'), V1_DIND);
      for (const c of ['cpu', 'cpuacct', 'memory'])
        mkdirSync(join(cg, c, 'docker', DIND, 'plancton', ID), { recursive: true });
      writeFileSync(join(cg, 'cpuacct', 'docker', DIND, 'plancton', ID, 'cpuacct.usage'), '123\n');
      writeFileSync(join(cg, 'cpu', 'docker', DIND, 'cpu.shares'), '1024\n');
      writeFileSync(join(cg, 'cpu', 'docker', DIND, 'plancton', 'cpu.idle'), '1\n');
      writeFileSync(join(cg, 'cpu', 'docker', DIND, 'plancton', ID, 'cpu.idle'), '0\n');
      const located = await new PilotCgroupLocator(proc, cg).locate([ID, 'b'.repeat(64)]);
      assert.deepEqual([...located.keys()], [ID]);
      assert.equal(located.get(ID)?.cpuUsageFile, join(cg, 'cpuacct', 'docker', DIND, 'plancton', ID, 'cpuacct.usage'));
      const p = await readPilotPriority(located, 'plancton');
      assert.equal(p?.enabled, false, 'nested in the dind container, which is not idle: not idle against the host');
      assert.match(
        p?.detail ?? '',
        /NOT idle: 1 pilot\(s\): \/docker\/d+ \(the dind engine's own cgroup: cpu\.shares=1024\) is not idle; idle only inside it \(cpu\.idle=1 on \/docker\/d+\/plancton\)/,
      );

      // the same pilot under a top-level idle parent: idle
      const top = await readPilotPriority(
        new Map([
          [
            ID,
            {
              ...located.get(ID)!,
              cpuDir: join(cg, 'cpu', 'docker', DIND, 'plancton', ID),
              cpuRoot: join(cg, 'cpu', 'docker', DIND),
            },
          ],
        ]),
      );
      assert.equal(top?.enabled, true, top?.detail);
      assert.equal(await readPilotPriority(new Map()), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
