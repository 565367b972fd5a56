/**
 * The chart's dind sidecar in its top-level placement, on a real Docker 26 in a privileged
 * container of its own, started the way the chart starts it: through the shipped
 * helm/plancton/files/dind-cgroups.sh, with a cgroup namespace of its own (so the script enters the
 * host's through the host's /proc before it mounts the hierarchies from their roots). Plancton runs
 * against its socket with a cgroup_parent of this run's, and is checked against the host's cgroup
 * files:
 *   - the pilots' cgroups are the host's /sys/fs/cgroup/cpu/<parent>/<id>, a child of the root,
 *     which Plancton made idle (cpu.idle=1 read from the kernel); status reads it back idle, the
 *     knob a child of the root; the engine's own work (dockerd, containerd, the pilots' shims)
 *     stays in the engine container's cgroup;
 *   - the parent's knob reset by hand: status NOT idle and the kill-based rule, then set again;
 *   - the engine container killed (kill -9) with one pilot paused: the others end with it, the
 *     paused one's processes stay frozen with the kernel's SIGKILL pending; a new engine container
 *     (a new pod) and a new Plancton: that group is thawed (its processes die) and the old cgroups
 *     are removed at its start.
 * Everything is per run (names, cgroup parent) and removed after.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { randomInstance, waitFor } from '../support/docker.ts';
import { DaemonProcess, testConfig } from '../support/daemon.ts';
import { CGROUP_ROOT, removeCgroupTree } from '../support/host.ts';
import { privateEngineSkip, startPrivateEngine, type PrivateEngine } from '../support/private-engine.ts';

const instance = randomInstance();
const parent = `plancton-top-${instance}`;
const CPU = join(CGROUP_ROOT, 'cpu');
const skip = await privateEngineSkip();

/** The processes in a v1 cpu group, with their command lines. */
function processesIn(cgroup: string): string[] {
  const pids = readFileSync(join(CPU, cgroup, 'cgroup.procs'), 'utf8')
    .split('\n')
    .filter(Boolean);
  return pids.map((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      return '';
    }
  });
}

describe(
  "dind top-level placement: the pilots idle at the host's top level (a private Docker 26 through dind-cgroups.sh)",
  { skip, timeout: 900_000 },
  () => {
    let d: DaemonProcess | undefined;
    let d2: DaemonProcess | undefined;
    let engine: PrivateEngine | undefined;
    let engine2: PrivateEngine | undefined;
    let pilots: string[] = [];
    const config = (e: PrivateEngine | undefined): string =>
      testConfig(instance, { docker_socket: e?.socket ?? '', cgroup_parent: parent, max_docks: 2 });
    const running = async (e: PrivateEngine): Promise<string[]> =>
      (await e.inner(['ps', '-q', '--no-trunc', '--filter', `label=org.plancton.instance=${instance}`]))
        .split('\n')
        .filter(Boolean)
        .sort();

    before(async () => {
      engine = await startPrivateEngine(`plancton-dind-top-${instance}`, instance, {
        topLevel: true,
        cgroupns: 'private',
      });
      const logs = await engine.logs();
      assert.match(logs, /dind-cgroups\.sh: entering the node's cgroup namespace/);
      assert.match(logs, /dind-cgroups\.sh: cgroup v1: \d+ hierarchies of the node from their roots/);
      assert.match(engine.cpuCgroup, /^\/docker\/[0-9a-f]{64}$/);
    });

    after(async () => {
      await d?.cleanup();
      await d2?.cleanup();
      await engine?.remove();
      await engine2?.remove();
      for (const x of [d, d2]) if (x) rmSync(x.dir, { recursive: true, force: true });
      removeCgroupTree(parent);
    });

    it("the pilots' cgroups are children of the host's /<parent>, idle (read from the kernel), status idle with the knob a child of the root; the engine's own work stays in its container", async () => {
      d = new DaemonProcess(config(engine)).start();
      const idle = await waitFor(
        'status: idle, two pilots',
        () => {
          const s = d?.status();
          return s?.idlePriority?.enabled && s.idlePriority.knob && s.pilots.length === 2 ? s.idlePriority : undefined;
        },
        180_000,
        250,
      );
      assert.deepEqual(idle.knob, { cgroup: `/${parent}`, setting: 'cpu.idle=1', role: 'parent', parents: [] });
      assert.match(idle.detail, new RegExp(`2 pilot\\(s\\): cpu\\.idle=1 on /${parent} \\(a child of the root\\)$`));
      assert.equal(readFileSync(join(CPU, parent, 'cpu.idle'), 'utf8').trim(), '1');
      assert.ok(engine);
      pilots = await running(engine);
      assert.equal(pilots.length, 2);
      const inEngine = processesIn(engine.cpuCgroup);
      for (const id of pilots) {
        const tasks = readFileSync(join(CPU, parent, id, 'tasks'), 'utf8').trim();
        assert.notEqual(tasks, '', `pilot ${id} has no process in /${parent}/${id}`);
        assert.ok(
          inEngine.some((cmd) => cmd.includes('containerd-shim') && cmd.includes(id)),
          `the shim of pilot ${id} is not in the engine's cgroup ${engine.cpuCgroup}`,
        );
      }
      assert.ok(
        inEngine.some((cmd) => /^dockerd /.test(cmd)),
        "dockerd is not in the engine's cgroup",
      );
      assert.ok(!existsSync(join(CPU, engine.cpuCgroup, parent)), "a pilots' parent inside the engine's cgroup");
    });

    it('the knob reset by hand: status NOT idle and the kill-based rule, then Plancton sets it again and reads it back', async () => {
      writeFileSync(join(CPU, parent, 'cpu.idle'), '0\n');
      await waitFor(
        'the reset, reported and set again',
        () =>
          new RegExp(
            `found cpu\\.idle=0, cpu\\.shares=\\d+ on \\S+/cpu/${parent}, the pilots' idle-priority parent`,
          ).test(d?.log ?? '')
            ? true
            : undefined,
        30_000,
        100,
      );
      await waitFor(
        'the fall-back in the log',
        () =>
          new RegExp(
            `pilots do NOT run at idle priority \\(read from the pilots' cgroups: NOT idle: 2 pilot\\(s\\): no idle-priority group above the pilots; /${parent} .*falling back to the kill-based CPU rule`,
          ).test(d?.log ?? '')
            ? true
            : undefined,
        30_000,
        100,
      );
      await waitFor('status: idle again', () => (d?.status()?.idlePriority?.enabled ? true : undefined), 30_000, 100);
      assert.equal(readFileSync(join(CPU, parent, 'cpu.idle'), 'utf8').trim(), '1');
      assert.match(
        d?.log ?? '',
        /"pilots run at idle priority \(read from the pilots' cgroups: 2 pilot\(s\): cpu\.idle=1 on/,
      );
    });

    it("the engine container killed: its pilots end with it, but for one it had paused, held by the freezer; a new engine's Plancton thaws that one (it dies) and removes their cgroups at its start", async () => {
      assert.ok(d && engine);
      const [paused = '', other = ''] = pilots;
      await engine.inner(['pause', paused]);
      const freezer = join(CGROUP_ROOT, 'freezer', parent, paused);
      assert.equal(readFileSync(join(freezer, 'freezer.state'), 'utf8').trim(), 'FROZEN');
      await d.kill('SIGKILL');
      // the engine's init dies, and stays a zombie while the frozen pilot lives in its PID namespace:
      // Docker says so ("is zombie and can not be killed"), which is part of what is checked here
      const killed = await execa('docker', ['kill', '-s', 'KILL', engine.name], { reject: false, timeout: 60_000 });
      assert.ok(killed.exitCode === 0 || /is zombie/.test(killed.stderr), killed.stderr);
      const tasks = (id: string): string[] =>
        readFileSync(join(CPU, parent, id, 'tasks'), 'utf8')
          .split('\n')
          .filter(Boolean);
      await waitFor(
        "the running pilot's processes gone",
        () => (tasks(other).length === 0 ? true : undefined),
        30_000,
        200,
      );
      // the paused one's stay: frozen, the kernel's SIGKILL pending (the leak this start mends)
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const held = tasks(paused);
      assert.ok(held.length > 0, "the paused pilot's processes outlived its engine");
      for (const pid of held)
        assert.match(
          readFileSync(`/proc/${pid}/status`, 'utf8'),
          /^(SigPnd|ShdPnd):\s*[0-9a-f]*[13579bdf][0-9a-f]{2}$/m,
        );
      const stale = readdirSync(CGROUP_ROOT).flatMap((c) =>
        pilots.map((id) => join(CGROUP_ROOT, c, parent, id)).filter((dir) => existsSync(dir)),
      );
      assert.ok(stale.length >= 2 * 2, `the cgroups left: ${stale.join(', ')}`);

      // a new pod: a new engine container (a new data root) and a new Plancton
      engine2 = await startPrivateEngine(`plancton-dind-top2-${instance}`, instance, { topLevel: true });
      d2 = new DaemonProcess(config(engine2)).start();
      await waitFor(
        'the sweep in the log',
        () =>
          /removed \d+ empty pilot cgroup\(s\) of containers the engine does not know/.test(d2?.log ?? '')
            ? true
            : undefined,
        120_000,
        250,
      );
      const left = stale.filter((dir) => existsSync(dir));
      assert.deepEqual(left, [], 'old pilot cgroups still there');
      assert.match(d2.log, new RegExp(`thawed 1 frozen pilot cgroup\\(s\\) .*${paused}`));
      assert.match(d2.log, new RegExp(`removed ${stale.length} empty pilot cgroup\\(s\\)`));
      for (const pid of held)
        assert.equal(existsSync(`/proc/${pid}`), false, `process ${pid} of the paused pilot lives on`);
      await waitFor(
        "the new engine's pilots idle",
        () => (d2?.status()?.idlePriority?.enabled && d2.status()?.pilots.length === 2 ? true : undefined),
        180_000,
        250,
      );
    });
  },
);
