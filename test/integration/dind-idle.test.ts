/**
 * dind_idle on a real Docker 26 in a privileged container of its own (the chart's dind mode with
 * placement in-pod; the docker:26-dind stand-in .ci/setup/docker26.sh builds), with its own name
 * and socket: the pilots' parent lands inside the engine's container cgroup
 * (`/docker/<dind id>/plancton`), and Plancton keeps cpu.idle=1 on that container's own cgroup.
 * Checked against the host's cgroup files:
 *   - the knob is set and read back, but /docker above it keeps its weight: status says NOT idle
 *     at the host's top level, idle among the container's siblings only, and the log says the
 *     kill-based rule applies;
 *   - reset by hand to 0: reported, set again, read back;
 *   - with dind_idle false (a reload), a reset stays: nothing is written, status says NOT idle.
 * A private engine, because the knob makes the whole engine container idle: the shared
 * plancton-ci-docker26 serves other tests.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomInstance, waitFor } from '../support/docker.ts';
import { DaemonProcess, testConfig } from '../support/daemon.ts';
import { CGROUP_ROOT } from '../support/host.ts';
import { privateEngineSkip, startPrivateEngine, type PrivateEngine } from '../support/private-engine.ts';

const instance = randomInstance();
const CPU = join(CGROUP_ROOT, 'cpu');

const skip = await privateEngineSkip();

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

    it("sets the knob and reads it back, and status says what it is worth: NOT idle at the host's top level (/docker keeps its weight), the kill-based rule; a reset by hand is reported and set again; dind_idle false leaves it", async () => {
      const config = (idle: boolean): string =>
        testConfig(instance, {
          docker_socket: engine?.socket ?? '',
          cgroup_parent: 'plancton',
          max_docks: 2,
          dind_idle: idle,
        });
      d = new DaemonProcess(config(true)).start();
      const siblingsOnly = new RegExp(
        `^read from the pilots' cgroups: NOT idle at the host's top level: 2 pilot\\(s\\): idle among ${engineCg}'s siblings only \\(cpu\\.idle=1 on ${engineCg}; at normal weight: /docker \\(cpu\\.shares=\\d+, cpu\\.idle=0\\)\\)$`,
      );
      await waitFor(
        "status: the knob read back, idle among the engine container's siblings only",
        () => {
          const p = d?.status()?.idlePriority;
          return p && !p.enabled && siblingsOnly.test(p.detail) && d?.status()?.pilots.length === 2 ? p : undefined;
        },
        180_000,
        250,
      );
      assert.equal(knob(), '1', `${engineCg}/cpu.idle`);
      assert.equal(d.status()?.idlePriority?.knob, undefined);
      assert.match(d.log, /set cpu\.idle=1 on \S+, the dind engine's own cgroup \(was 0\)/);
      await waitFor(
        'the fall-back in the log',
        () =>
          /pilots do NOT run at idle priority \(read from the pilots' cgroups: NOT idle at the host's top level.*falling back to the kill-based CPU rule/.test(
            d?.log ?? '',
          )
            ? true
            : undefined,
        30_000,
      );
      // the pilots are really under it, in the engine's /plancton
      assert.equal(d.status()?.pilots.filter((p) => p.state === 'running').length, 2);
      assert.equal(readFileSync(join(CPU, engineCg, 'plancton', 'cpu.idle'), 'utf8').trim(), '1');

      // something resets it
      writeFileSync(join(CPU, engineCg, 'cpu.idle'), '0\n');
      await waitFor(
        'the reset reported and set again',
        () =>
          /found cpu\.idle=0 on \S+, the dind engine's own cgroup \(reset since Plancton set it\)/.test(d?.log ?? '')
            ? true
            : undefined,
        30_000,
        100,
      );
      await waitFor('set again', () => (knob() === '1' ? true : undefined), 30_000, 100);
      await waitFor(
        'status: idle among its siblings only again',
        () => (siblingsOnly.test(d?.status()?.idlePriority?.detail ?? '') ? true : undefined),
        30_000,
        100,
      );

      // opted out: a reset stays, and status says so
      d.writeConfig(config(false));
      await waitFor(
        'the reload',
        () => (/"changed":\["dind_idle"\].*"configuration reloaded"/.test(d?.log ?? '') ? true : undefined),
        30_000,
      );
      writeFileSync(join(CPU, engineCg, 'cpu.idle'), '0\n');
      await waitFor(
        'status: NOT idle, idle only inside the engine (opted out)',
        () => (/is not idle; idle only inside it/.test(d?.status()?.idlePriority?.detail ?? '') ? true : undefined),
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
