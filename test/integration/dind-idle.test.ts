/**
 * dind_idle on a real Docker 26 in a privileged container of its own (the chart's dind mode; the
 * docker:26-dind stand-in .ci/setup/docker26.sh builds), with its own name and socket: the pilots'
 * parent lands inside the engine's container cgroup (`/docker/<dind id>/plancton`), and Plancton
 * keeps cpu.idle=1 on that container's own cgroup. Checked against the host's cgroup files:
 *   - the knob is set, and status reads it back (enabled, the cgroup holding it, its parents);
 *   - reset by hand to 0: status says NOT idle and the log says the kill-based rule takes over;
 *     Plancton sets it again and status reads it back idle;
 *   - with dind_idle false (a reload), a reset stays: nothing is written, status says NOT idle.
 * A private engine, because the knob makes the whole engine container idle: the shared
 * plancton-ci-docker26 serves other tests.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { REQUIRE_ENGINE_ENV, randomInstance, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, testConfig } from '../support/daemon.ts';
import { CGROUP_ROOT } from '../support/host.ts';
import { DIND_IMAGE, startPrivateEngine, type PrivateEngine } from '../support/private-engine.ts';

const instance = randomInstance();
const CPU = join(CGROUP_ROOT, 'cpu');

async function skipReason(): Promise<false | string> {
  const engine = await requireEngine('busybox:latest');
  if (engine) return engine;
  let why: string | undefined;
  if ((await execa('docker', ['image', 'inspect', DIND_IMAGE], { reject: false })).failed)
    why = `image ${DIND_IMAGE} is missing (.ci/setup/docker26.sh image)`;
  else {
    try {
      readFileSync(join(CPU, 'cpu.idle'));
    } catch {
      why = 'needs cgroup v1 with cpu.idle (Linux 5.15+) at /sys/fs/cgroup/cpu';
    }
  }
  if (!why) return false;
  if (process.env[REQUIRE_ENGINE_ENV] === '1') throw new Error(`${REQUIRE_ENGINE_ENV}=1 but ${why}`);
  return `skipped: ${why}`;
}
const skip = await skipReason();

describe(
  "dind_idle: cpu.idle=1 on a Docker-in-Docker engine's own cgroup (a private Docker 26)",
  { skip, timeout: 600_000 },
  () => {
    let d: DaemonProcess | undefined;
    let engine: PrivateEngine | undefined;
    let engineCg = '';
    const knob = (): string => readFileSync(join(CPU, engineCg, 'cpu.idle'), 'utf8').trim();

    before(async () => {
      engine = await startPrivateEngine(`plancton-dind-idle-${instance}`, instance);
      engineCg = engine.cpuCgroup;
      assert.match(engineCg, /^\/docker\/[0-9a-f]{64}$/);
      assert.equal(knob(), '0', 'a new container starts at cpu.idle=0');
    });

    after(async () => {
      await d?.cleanup();
      await engine?.remove();
      if (d) rmSync(d.dir, { recursive: true, force: true });
    });

    it('sets the knob and reads it back; a reset by hand is reported, the kill-based rule takes over, the knob is set again; dind_idle false leaves it', async () => {
      const config = (idle: boolean): string =>
        testConfig(instance, {
          docker_socket: engine?.socket ?? '',
          cgroup_parent: 'plancton',
          max_docks: 2,
          dind_idle: idle,
        });
      d = new DaemonProcess(config(true)).start();
      const idle = await waitFor(
        'status: idle, read back from the engine cgroup',
        () => {
          const p = d?.status()?.idlePriority;
          return p?.enabled && p.knob ? p : undefined;
        },
        180_000,
        250,
      );
      assert.equal(knob(), '1', `${engineCg}/cpu.idle`);
      assert.deepEqual(idle.knob, {
        cgroup: engineCg,
        setting: 'cpu.idle=1',
        role: 'engine',
        parents: [
          {
            cgroup: '/docker',
            weight: `cpu.shares=${readFileSync(join(CPU, 'docker', 'cpu.shares'), 'utf8').trim()}, cpu.idle=0`,
          },
        ],
      });
      assert.match(d.log, /set cpu\.idle=1 on \S+, the dind engine's own cgroup \(was 0\)/);
      // the pilots are really under it, in the engine's /plancton
      assert.equal(d.status()?.pilots.filter((p) => p.state === 'running').length, 2);
      assert.equal(readFileSync(join(CPU, engineCg, 'plancton', 'cpu.idle'), 'utf8').trim(), '1');

      // something resets it
      writeFileSync(join(CPU, engineCg, 'cpu.idle'), '0\n');
      const reset = await waitFor(
        'status: NOT idle',
        () => (d?.status()?.idlePriority?.enabled === false ? d.status()?.idlePriority : undefined),
        30_000,
        100,
      );
      assert.match(
        reset.detail,
        new RegExp(
          `NOT idle: 2 pilot\\(s\\): ${engineCg} \\(the dind engine's own cgroup: cpu\\.shares=\\d+, cpu\\.idle=0\\) is not idle`,
        ),
      );
      await waitFor(
        'the fall-back in the log',
        () =>
          /pilots do NOT run at idle priority.*falling back to the kill-based CPU rule/.test(d?.log ?? '')
            ? true
            : undefined,
        30_000,
      );
      assert.match(d.log, /found cpu\.idle=0 on \S+, the dind engine's own cgroup \(reset since Plancton set it\)/);
      await waitFor('status: idle again', () => (d?.status()?.idlePriority?.enabled ? true : undefined), 30_000, 100);
      assert.equal(knob(), '1');
      assert.match(d.log, /"pilots run at idle priority \(read from the pilots' cgroups: 2 pilot\(s\): cpu\.idle=1 on/);

      // opted out: a reset stays, and status says so
      d.writeConfig(config(false));
      await waitFor(
        'the reload',
        () => (/"changed":\["dind_idle"\].*"configuration reloaded"/.test(d?.log ?? '') ? true : undefined),
        30_000,
      );
      writeFileSync(join(CPU, engineCg, 'cpu.idle'), '0\n');
      await waitFor(
        'status: NOT idle (opted out)',
        () => (d?.status()?.idlePriority?.enabled === false ? true : undefined),
        30_000,
        100,
      );
      // three passes (main_sleep 1) that would have set it again
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(knob(), '0', 'dind_idle false: not set again');
      assert.equal(d.status()?.idlePriority?.enabled, false);
    });
  },
);
