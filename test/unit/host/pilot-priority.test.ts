/**
 * The pilots' priority read back from cgroup trees (v1 and v2 fixtures under a temporary
 * directory): idle only when every group from the pilots' anchor up to the root's child is idle or
 * at the lowest weight; a knob with a group at normal weight above it is NOT idle at the host's
 * top level. The idle knob on a Docker-in-Docker engine's own cgroup (ensureEngineIdle), and the
 * meter keeping its knobs from pass to pass: set at first sight, found reset (reported, set again).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureEngineIdle } from '../../../src/host/idle-cgroup.ts';
import { PilotCpuMeter } from '../../../src/host/pilot-cpu.ts';
import { anchorOf, knobText, readPilotPriority } from '../../../src/host/pilot-priority.ts';
import type { PilotCgroup } from '../../../src/host/pilot-cgroups.ts';

const ID = 'a'.repeat(64);
const DIND = 'd'.repeat(64);
const base = mkdtempSync(join(tmpdir(), 'plancton-priority-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** A fresh tree: `files` maps paths (relative to its root) to contents; returns the root. */
function tree(files: Record<string, string>): string {
  const root = join(base, String(n++));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** A pilot's cgroup at `path` in the CPU hierarchy `cpuRoot` (only what the priority reads). */
const pilotAt = (cpuRoot: string, path: string): PilotCgroup => ({
  paths: new Map(),
  cpuRoot,
  cpuDir: join(cpuRoot, path),
  cpuUsageFile: join(cpuRoot, path, 'cpu.stat'),
  memoryFile: undefined,
  ioDir: undefined,
  memoryDir: undefined,
});

describe('readPilotPriority on cgroup v1 trees', () => {
  const v1 = (engineIdle: string, dockerIdle = '0\n'): string =>
    tree({
      'cpu/docker/cpu.shares': '1024\n',
      'cpu/docker/cpu.idle': dockerIdle,
      [`cpu/docker/${DIND}/cpu.shares`]: '1024\n',
      [`cpu/docker/${DIND}/cpu.idle`]: engineIdle,
      [`cpu/docker/${DIND}/plancton/cpu.idle`]: '1\n',
      [`cpu/docker/${DIND}/plancton/${ID}/cpu.idle`]: '0\n',
    });

  it("a dind engine's own cgroup at cpu.idle=1 under /docker at normal weight: NOT idle at the host's top level, idle among its siblings only", async () => {
    const cpu = join(v1('1\n'), 'cpu');
    const p = await readPilotPriority(new Map([[ID, pilotAt(cpu, `docker/${DIND}/plancton/${ID}`)]]), 'plancton');
    assert.equal(p?.enabled, false, p?.detail);
    assert.equal(p?.knob, undefined);
    assert.equal(
      p?.detail,
      `read from the pilots' cgroups: NOT idle at the host's top level: 1 pilot(s): idle among /docker/${DIND}'s siblings only (cpu.idle=1 on /docker/${DIND}; at normal weight: /docker (cpu.shares=1024, cpu.idle=0))`,
    );
  });

  it("the engine's cgroup and /docker both idle (every group up to the root): idle, the knob on the engine, /docker among its parents", async () => {
    const cpu = join(v1('1\n', '1\n'), 'cpu');
    const p = await readPilotPriority(new Map([[ID, pilotAt(cpu, `docker/${DIND}/plancton/${ID}`)]]), 'plancton');
    assert.equal(p?.enabled, true, p?.detail);
    assert.deepEqual(p?.knob, {
      cgroup: `/docker/${DIND}`,
      setting: 'cpu.idle=1',
      role: 'engine',
      parents: [{ cgroup: '/docker', weight: 'cpu.shares=1024, cpu.idle=1' }],
    });
    assert.equal(
      p?.detail,
      `read from the pilots' cgroups: 1 pilot(s): cpu.idle=1 on /docker/${DIND} (the dind engine's own cgroup); idle up to the root: /docker (cpu.shares=1024, cpu.idle=1)`,
    );
  });

  it('the engine cgroup reset to cpu.idle=0: NOT idle, idle only inside it', async () => {
    const cpu = join(v1('0\n'), 'cpu');
    const p = await readPilotPriority(new Map([[ID, pilotAt(cpu, `docker/${DIND}/plancton/${ID}`)]]), 'plancton');
    assert.equal(p?.enabled, false);
    assert.equal(p?.knob, undefined);
    assert.match(
      p?.detail ?? '',
      /NOT idle: 1 pilot\(s\): \/docker\/d+ \(the dind engine's own cgroup: cpu\.shares=1024, cpu\.idle=0\) is not idle; idle only inside it \(cpu\.idle=1 on \/docker\/d+\/plancton\)$/,
    );
  });

  it("without cgroup_parent the anchor is the root's child (/docker): NOT idle", async () => {
    const cpu = join(v1('1\n'), 'cpu');
    const p = await readPilotPriority(new Map([[ID, pilotAt(cpu, `docker/${DIND}/plancton/${ID}`)]]));
    assert.equal(p?.enabled, false);
    assert.match(
      p?.detail ?? '',
      /\/docker \(the pilots' top-level group: cpu\.shares=1024, cpu\.idle=0\) is not idle/,
    );
  });

  it('the parent /plancton, a child of the root (a host engine, or a dind engine placing at the top level beside its own /docker/<dind>): idle, no parents', async () => {
    const root = tree({
      'cpu/docker/cpu.shares': '1024\n',
      [`cpu/docker/${DIND}/cpu.idle`]: '0\n',
      'cpu/plancton/cpu.shares': '1024\n',
      'cpu/plancton/cpu.idle': '1\n',
      [`cpu/plancton/${ID}/cpu.idle`]: '0\n',
    });
    const p = await readPilotPriority(new Map([[ID, pilotAt(join(root, 'cpu'), `plancton/${ID}`)]]), 'plancton');
    assert.equal(p?.enabled, true);
    assert.deepEqual(p?.knob, { cgroup: '/plancton', setting: 'cpu.idle=1', role: 'parent', parents: [] });
    assert.ok(p && p.knob && knobText(p.knob).endsWith('(a child of the root)'));
    assert.equal(p.detail, "read from the pilots' cgroups: 1 pilot(s): cpu.idle=1 on /plancton (a child of the root)");
  });

  it('/plancton reset to cpu.idle=0 at normal weight: NOT idle, nothing idle above the pilots', async () => {
    const root = tree({
      'cpu/plancton/cpu.shares': '1024\n',
      'cpu/plancton/cpu.idle': '0\n',
      [`cpu/plancton/${ID}/cpu.idle`]: '0\n',
    });
    const p = await readPilotPriority(new Map([[ID, pilotAt(join(root, 'cpu'), `plancton/${ID}`)]]), 'plancton');
    assert.equal(p?.enabled, false);
    assert.equal(
      p?.detail,
      "read from the pilots' cgroups: NOT idle: 1 pilot(s): no idle-priority group above the pilots; /plancton (the pilots' top-level group: cpu.shares=1024, cpu.idle=0)",
    );
  });

  it('a kernel without cpu.idle: the lowest cpu.shares counts as idle', async () => {
    const root = tree({ [`cpu/plancton/cpu.shares`]: '2\n', [`cpu/plancton/${ID}/cpu.shares`]: '1024\n' });
    const p = await readPilotPriority(new Map([[ID, pilotAt(join(root, 'cpu'), `plancton/${ID}`)]]), 'plancton');
    assert.equal(p?.knob?.setting, 'cpu.shares=2');
  });
});

describe('readPilotPriority on a v1 kubelet tree (cgroupfs driver), best-effort pod', () => {
  const ctr = `kubepods/besteffort/pod1234/${DIND}`;
  const files = (idle: string): Record<string, string> => ({
    'cpu/kubepods/cpu.shares': '2048\n',
    'cpu/kubepods/besteffort/cpu.shares': '2\n',
    'cpu/kubepods/besteffort/pod1234/cpu.shares': '2\n',
    [`cpu/${ctr}/cpu.shares`]: '2\n',
    [`cpu/${ctr}/cpu.idle`]: idle,
    [`cpu/${ctr}/plancton/${ID}/cpu.shares`]: '1024\n',
  });

  it("the engine's knob set, the pod and QoS groups at the lowest weight: /kubepods at the node's weight makes it NOT idle at the host's top level", async () => {
    const cpu = join(tree(files('1\n')), 'cpu');
    const p = await readPilotPriority(new Map([[ID, pilotAt(cpu, `${ctr}/plancton/${ID}`)]]), 'plancton');
    assert.equal(p?.enabled, false);
    assert.equal(p?.knob, undefined);
    assert.equal(
      p?.detail,
      `read from the pilots' cgroups: NOT idle at the host's top level: 1 pilot(s): idle among the siblings of /${ctr}, /kubepods/besteffort/pod1234, /kubepods/besteffort only (cpu.idle=1 on /${ctr}, cpu.shares=2 on /kubepods/besteffort/pod1234, cpu.shares=2 on /kubepods/besteffort; at normal weight: /kubepods (cpu.shares=2048))`,
    );
  });

  it("the knob reset: the kubelet's lowest weight on the container does not make it idle either", async () => {
    const cpu = join(tree(files('0\n')), 'cpu');
    const p = await readPilotPriority(new Map([[ID, pilotAt(cpu, `${ctr}/plancton/${ID}`)]]), 'plancton');
    assert.equal(p?.enabled, false);
    assert.match(
      p?.detail ?? '',
      /NOT idle at the host's top level: 1 pilot\(s\): idle among the siblings of .*cpu\.shares=2 on \/kubepods\/besteffort\/pod1234\/d+, /,
    );
  });

  it("a burstable container at normal weight under the best-effort-like QoS group: idle among that group's siblings only", async () => {
    const f = files('0\n');
    f[`cpu/${ctr}/cpu.shares`] = '1024\n';
    f['cpu/kubepods/besteffort/pod1234/cpu.shares'] = '1024\n';
    const cpu = join(tree(f), 'cpu');
    const p = await readPilotPriority(new Map([[ID, pilotAt(cpu, `${ctr}/plancton/${ID}`)]]), 'plancton');
    assert.equal(p?.enabled, false);
    assert.equal(
      p?.detail,
      `read from the pilots' cgroups: NOT idle at the host's top level: 1 pilot(s): idle among /kubepods/besteffort's siblings only (cpu.shares=2 on /kubepods/besteffort; at normal weight: /${ctr} (cpu.shares=1024, cpu.idle=0), /kubepods/besteffort/pod1234 (cpu.shares=1024), /kubepods (cpu.shares=2048))`,
    );
  });

  it('the top-level placement beside the kubelet tree: /plancton, a child of the root, is the knob', async () => {
    const f = files('0\n');
    f['cpu/plancton/cpu.idle'] = '1\n';
    f[`cpu/plancton/${ID}/cpu.shares`] = '1024\n';
    const cpu = join(tree(f), 'cpu');
    const p = await readPilotPriority(new Map([[ID, pilotAt(cpu, `plancton/${ID}`)]]), 'plancton');
    assert.equal(p?.enabled, true, p?.detail);
    assert.deepEqual(p?.knob, { cgroup: '/plancton', setting: 'cpu.idle=1', role: 'parent', parents: [] });
  });
});

describe('readPilotPriority on cgroup v2 trees (a kubelet with the systemd driver)', () => {
  const pod = 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice';
  const ctr = `${pod}/cri-containerd-${DIND}.scope`;
  const v2 = (idle: string): string =>
    tree({
      'kubepods.slice/cpu.weight': '100\n',
      'kubepods.slice/cpu.idle': '0\n',
      'kubepods.slice/kubepods-burstable.slice/cpu.weight': '40\n',
      'kubepods.slice/kubepods-burstable.slice/cpu.idle': '0\n',
      [`${pod}/cpu.weight`]: '4\n',
      [`${pod}/cpu.idle`]: '0\n',
      [`${ctr}/cpu.weight`]: '4\n',
      [`${ctr}/cpu.idle`]: idle,
      [`${ctr}/plancton/cpu.weight`]: '1\n',
      [`${ctr}/plancton/${ID}/cpu.weight`]: '100\n',
    });

  it("the knob on the sidecar container's own cgroup: the pod and the QoS groups above keep their weights, so NOT idle at the host's top level", async () => {
    const root = v2('1\n');
    const c = pilotAt(root, `${ctr}/plancton/${ID}`);
    assert.deepEqual(anchorOf(c, 'plancton'), { dir: join(root, ctr), role: 'engine' });
    const p = await readPilotPriority(new Map([[ID, c]]), 'plancton');
    assert.equal(p?.enabled, false, p?.detail);
    assert.equal(
      p?.detail,
      `read from the pilots' cgroups: NOT idle at the host's top level: 1 pilot(s): idle among /${ctr}'s siblings only (cpu.idle=1 on /${ctr}; at normal weight: /${pod} (cpu.weight=4, cpu.idle=0), /kubepods.slice/kubepods-burstable.slice (cpu.weight=40, cpu.idle=0), /kubepods.slice (cpu.weight=100, cpu.idle=0))`,
    );
  });

  it('the top-level placement: /plancton at the v2 root with cpu.idle=1 is the knob, a child of the root', async () => {
    const root = tree({
      'kubepods.slice/cpu.weight': '100\n',
      'plancton/cpu.weight': '1\n',
      'plancton/cpu.idle': '1\n',
      [`plancton/${ID}/cpu.weight`]: '100\n',
    });
    const p = await readPilotPriority(new Map([[ID, pilotAt(root, `plancton/${ID}`)]]), 'plancton');
    assert.equal(p?.enabled, true, p?.detail);
    assert.deepEqual(p?.knob, { cgroup: '/plancton', setting: 'cpu.idle=1', role: 'parent', parents: [] });
  });

  it('reset: NOT idle; the lowest weight inside it only', async () => {
    const p = await readPilotPriority(new Map([[ID, pilotAt(v2('0\n'), `${ctr}/plancton/${ID}`)]]), 'plancton');
    assert.equal(p?.enabled, false);
    assert.match(p?.detail ?? '', /is not idle; idle only inside it \(cpu\.weight=1 on .*\/plancton\)/);
  });

  it('a multi-level cgroup_parent (plancton/pilots) finds the engine above both levels', () => {
    const c = pilotAt('/r', `${ctr}/plancton/pilots/${ID}`);
    assert.deepEqual(anchorOf(c, 'plancton/pilots'), { dir: `/r/${ctr}`, role: 'engine' });
    assert.deepEqual(anchorOf(pilotAt('/r', `plancton/pilots/${ID}`), 'plancton/pilots'), {
      dir: '/r/plancton',
      role: 'parent',
    });
  });
});

describe('ensureEngineIdle', () => {
  it('writes cpu.idle=1 only when it is not, and reads it back; leaves the weight alone', async () => {
    const dir = tree({ 'g/cpu.idle': '0\n', 'g/cpu.shares': '512\n' });
    assert.deepEqual(await ensureEngineIdle(join(dir, 'g')), { found: '0', written: true });
    assert.equal(readFileSync(join(dir, 'g', 'cpu.idle'), 'utf8').trim(), '1');
    assert.equal(readFileSync(join(dir, 'g', 'cpu.shares'), 'utf8').trim(), '512');
    assert.deepEqual(await ensureEngineIdle(join(dir, 'g')), { found: '1', written: false });
  });

  it('a kernel without cpu.idle: a clear error, nothing written', async () => {
    const dir = tree({ 'g/cpu.shares': '512\n' });
    await assert.rejects(
      ensureEngineIdle(join(dir, 'g')),
      /cpu\.idle is missing \(cpu\.idle needs Linux 5\.15 or later\)|cpu\.idle is missing/,
    );
    assert.equal(readFileSync(join(dir, 'g', 'cpu.shares'), 'utf8').trim(), '512');
  });
});

describe("PilotCpuMeter keeps the knob on a dind engine's cgroup from pass to pass (v1 fixture)", () => {
  it('sets it at first sight, reports a reset for one pass and sets it again; dind_idle false writes nothing', async () => {
    const root = tree({
      [`proc/20/cgroup`]: `2:cpuacct:/docker/${DIND}/plancton/${ID}\n1:cpu:/docker/${DIND}/plancton/${ID}\n`,
      'cg/cpu/docker/cpu.shares': '1024\n',
      'cg/cpu/docker/cpu.idle': '0\n',
      [`cg/cpu/docker/${DIND}/cpu.shares`]: '1024\n',
      [`cg/cpu/docker/${DIND}/cpu.idle`]: '0\n',
      [`cg/cpu/docker/${DIND}/plancton/cpu.shares`]: '1024\n',
      [`cg/cpu/docker/${DIND}/plancton/cpu.idle`]: '0\n',
      [`cg/cpu/docker/${DIND}/plancton/${ID}/cpu.idle`]: '0\n',
      [`cg/cpuacct/docker/${DIND}/plancton/${ID}/cpuacct.usage`]: '1000\n',
    });
    const knob = join(root, 'cg', 'cpu', 'docker', DIND, 'cpu.idle');
    const said: string[] = [];
    const opts = {
      procRoot: join(root, 'proc'),
      parentName: 'plancton',
      warn: (m: string) => said.push(`warn ${m}`),
      info: (m: string) => said.push(`info ${m}`),
    };

    const off = new PilotCpuMeter(join(root, 'cg'), undefined, opts);
    const p0 = await off.measure([ID], 1000, 2, { dindIdle: false });
    assert.equal(p0.priority?.enabled, false);
    assert.equal(readFileSync(knob, 'utf8').trim(), '0', 'dind_idle false: the engine cgroup untouched');

    const meter = new PilotCpuMeter(join(root, 'cg'), undefined, opts);
    const p1 = await meter.measure([ID], 2000, 2, { dindIdle: true });
    // set and read back, but /docker above it keeps its weight: still NOT idle at the host's top level
    assert.equal(p1.priority?.enabled, false);
    assert.match(
      p1.priority?.detail ?? '',
      new RegExp(
        `NOT idle at the host's top level: 1 pilot\\(s\\): idle among /docker/${DIND}'s siblings only \\(cpu\\.idle=1 on`,
      ),
    );
    assert.equal(readFileSync(knob, 'utf8').trim(), '1');
    assert.ok(
      said.some((m) => m.startsWith('info set cpu.idle=1 on') && m.includes('(was 0)')),
      said.join('\n'),
    );

    writeFileSync(knob, '0\n'); // reset by hand
    const p2 = await meter.measure([ID], 3000, 2, { dindIdle: true });
    assert.match(
      p2.priority?.detail ?? '',
      /is not idle; idle only inside it/,
      'the pass that finds it reset reads it as it was',
    );
    assert.ok(
      said.some((m) => m.startsWith('warn found cpu.idle=0 on')),
      said.join('\n'),
    );
    assert.equal(readFileSync(knob, 'utf8').trim(), '1', 'set again after the reading');
    const p3 = await meter.measure([ID], 4000, 2, { dindIdle: true });
    assert.match(p3.priority?.detail ?? '', /NOT idle at the host's top level/);
  });
});

describe('PilotCpuMeter keeps the idle parent it set up at the top level (v1 fixture)', () => {
  it('idle while cpu.idle=1 holds; a reset is reported for one pass (NOT idle) and set again; a parent it did not set up is left alone', async () => {
    const root = tree({
      [`proc/20/cgroup`]: `2:cpuacct:/plancton/${ID}\n1:cpu:/plancton/${ID}\n`,
      'cg/cpu/docker/cpu.shares': '1024\n',
      'cg/cpu/plancton/cpu.shares': '2\n',
      'cg/cpu/plancton/cpu.idle': '1\n',
      [`cg/cpu/plancton/${ID}/cpu.idle`]: '0\n',
      [`cg/cpuacct/plancton/cpuacct.usage`]: '1000\n',
      [`cg/cpuacct/plancton/${ID}/cpuacct.usage`]: '1000\n',
    });
    const knob = join(root, 'cg', 'cpu', 'plancton', 'cpu.idle');
    const said: string[] = [];
    const opts = { procRoot: join(root, 'proc'), parentName: 'plancton', warn: (m: string) => said.push(m) };
    const idle = { parent: '/plancton', usageFile: join(root, 'cg', 'cpuacct', 'plancton', 'cpuacct.usage') };
    const meter = new PilotCpuMeter(join(root, 'cg'), idle, opts);
    const p1 = await meter.measure([ID], 1000, 2);
    assert.equal(p1.priority?.enabled, true, p1.priority?.detail);
    assert.deepEqual(p1.priority?.knob, { cgroup: '/plancton', setting: 'cpu.idle=1', role: 'parent', parents: [] });
    assert.deepEqual(said, []);

    writeFileSync(knob, '0\n');
    writeFileSync(join(root, 'cg', 'cpu', 'plancton', 'cpu.shares'), '1024\n'); // as the kernel gives back the weight
    const p2 = await meter.measure([ID], 2000, 2);
    assert.equal(p2.priority?.enabled, false, 'the pass that finds it reset reads it as it was');
    assert.match(
      p2.priority?.detail ?? '',
      /NOT idle: 1 pilot\(s\): no idle-priority group above the pilots; \/plancton/,
    );
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(
      said[0] ?? '',
      /^found cpu\.idle=0, cpu\.shares=1024 on \S+\/cpu\/plancton, the pilots' idle-priority parent .*set it to idle priority again$/,
    );
    assert.equal(readFileSync(knob, 'utf8').trim(), '1', 'set again after the reading');
    const p3 = await meter.measure([ID], 3000, 2);
    assert.equal(p3.priority?.enabled, true);

    // without the parent set up (cgroup_parent's set-up failed), nothing is written
    writeFileSync(knob, '0\n');
    const other = new PilotCpuMeter(join(root, 'cg'), undefined, opts);
    assert.equal((await other.measure([ID], 4000, 2)).priority?.enabled, false);
    assert.equal(readFileSync(knob, 'utf8').trim(), '0');
  });
});
