/**
 * dockerd killed (SIGKILL) mid-fill and started again. The host engine is shared, so this runs on
 * a private Docker 26 in a privileged container of its own (the docker:26-dind stand-in that
 * .ci/setup/docker26.sh builds), with its own name and socket directory: its dockerd is the
 * container's first process, so killing the container kills dockerd, containerd and every pilot
 * with it, and `docker start` brings the same engine back with its storage. Asserts that the
 * daemon waits, then refills to max_docks with no pilot left exited or never started (none
 * leaked), and that the foreign look-alikes on that engine are still there, unchanged.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { execa } from 'execa';
import { REQUIRE_ENGINE_ENV, randomInstance, requireEngine, TEST_RUN_LABEL, waitFor } from '../support/docker.ts';
import { DaemonProcess, logRecords, PILOT_LABELS, pilotsOf, testConfig, type PilotRow } from '../support/daemon.ts';

const IMAGE = process.env.PLANCTON_DIND_IMAGE ?? 'docker:26-dind';
const instance = randomInstance();
const NAME = `plancton-faults-dind-${instance}`;
const DIR = `/run/plancton-faults-${instance}`;
const SOCKET = `${DIR}/docker.sock`;
const MAX = 12;

async function skipReason(): Promise<false | string> {
  const engine = await requireEngine('busybox:latest');
  if (engine) return engine;
  const r = await execa('docker', ['image', 'inspect', IMAGE], { reject: false });
  if (!r.failed) return false;
  const why = `image ${IMAGE} is missing (.ci/setup/docker26.sh image)`;
  if (process.env[REQUIRE_ENGINE_ENV] === '1') throw new Error(`${REQUIRE_ENGINE_ENV}=1 but ${why}`);
  return `skipped: ${why}`;
}
const skip = await skipReason();

/** `docker --host unix://SOCKET args…` on the private engine; rejects with stderr. */
async function inner(args: readonly string[]): Promise<string> {
  const r = await execa('docker', ['--host', `unix://${SOCKET}`, ...args], { reject: false, timeout: 120_000 });
  if (r.exitCode !== 0) throw new Error(`docker ${args.join(' ')} on the private engine: ${String(r.stderr)}`);
  return String(r.stdout).trim();
}

const answers = async (): Promise<boolean> =>
  (await execa('docker', ['--host', `unix://${SOCKET}`, 'version'], { reject: false, timeout: 30_000 })).exitCode === 0;

async function engineUp(): Promise<void> {
  await waitFor(
    'the private engine',
    async () => {
      if (await answers()) return true;
      const st = await execa('docker', ['inspect', '-f', '{{.State.Status}}', NAME], { reject: false });
      if (String(st.stdout).trim() !== 'running') throw new Error(`${NAME} is ${String(st.stdout)}`);
      return undefined;
    },
    180_000,
    500,
  );
}

const pilots = (): Promise<PilotRow[]> => pilotsOf(instance, undefined, { labels: PILOT_LABELS, docker: inner });

describe('dockerd killed mid-fill and restarted (a private Docker 26)', { skip, timeout: 600_000 }, () => {
  let d: DaemonProcess | undefined;
  const foreign: Array<{ id: string; labels: string; restarts: boolean }> = [];

  before(async () => {
    mkdirSync(DIR, { recursive: true, mode: 0o700 });
    await execa(
      'docker',
      [
        'run',
        '-d',
        '--privileged',
        '--name',
        NAME,
        '--label',
        `${TEST_RUN_LABEL}=${instance}`,
        '-v',
        `${DIR}:/run/plancton-dind`,
        IMAGE,
        'dockerd',
        '--host=unix:///run/plancton-dind/docker.sock',
      ],
      { timeout: 120_000 },
    );
    await engineUp();
    await execa('sh', ['-c', `docker save busybox:latest | docker --host unix://${SOCKET} load -q`], {
      timeout: 300_000,
    });
    // look-alikes: a pilot's name and labels but another instance's, and one with our instance but no
    // managed-by; one comes back with its engine (restart always), one stays exited
    const looks: Array<[name: string, labels: string[], restarts: boolean]> = [
      [
        `plancton-worker-${instance.slice(-6)}`,
        ['org.plancton.managed-by=plancton', 'org.plancton.instance=someone-else', 'org.plancton.role=pilot'],
        true,
      ],
      [
        `plancton-worker-${instance.slice(-5)}x`,
        [`org.plancton.instance=${instance}`, 'org.plancton.role=pilot'],
        false,
      ],
    ];
    for (const [n, labels, restarts] of looks) {
      const id = await inner([
        'run',
        '-d',
        ...(restarts ? ['--restart', 'always'] : []),
        '--name',
        n,
        ...labels.flatMap((l) => ['--label', l]),
        'busybox:latest',
        'sleep',
        '3600',
      ]);
      foreign.push({ id, labels: await inner(['inspect', '-f', '{{json .Config.Labels}}', id]), restarts });
    }
  });

  after(async () => {
    await d?.cleanup();
    await execa('docker', ['rm', '-f', '-v', NAME], { reject: false, timeout: 120_000 });
    rmSync(DIR, { recursive: true, force: true });
    if (d) rmSync(d.dir, { recursive: true, force: true });
  });

  it('waits while the engine is gone, then refills to max_docks; none leaked, the look-alikes unchanged', async (t) => {
    d = new DaemonProcess(
      testConfig(instance, {
        docker_socket: SOCKET,
        // Docker 26 in a container nests its cgroups: no idle parent, as in the chart's dind mode
        cgroup_parent: '',
        max_docks: MAX,
        docks_per_loop: 1,
      }),
    ).start();
    const atKill = await waitFor(
      'the fill under way',
      async () => {
        // two pilots made: one at least has started, and the fill goes on (one start at a time)
        const n = (await pilots()).length;
        return n >= 2 ? n : undefined;
      },
      180_000,
      50,
    );
    await execa('docker', ['kill', '--signal', 'KILL', NAME], { timeout: 60_000 });
    const startsBefore = logRecords(d.log).filter((r) => r.event === 'pilot-started').length;
    assert.ok(startsBefore < MAX, `the engine died mid-fill (${startsBefore} of ${MAX} started, ${atKill} seen)`);
    await waitFor('status waiting', () => (d?.status()?.state === 'waiting' ? true : undefined), 60_000);
    assert.equal(d.status()?.engine.reachable, false);
    assert.equal(d.running, true, 'the daemon keeps running without its engine');

    await execa('docker', ['start', NAME], { timeout: 120_000 });
    await engineUp();
    await waitFor(
      `${MAX} running pilots, nothing else, status active`,
      async () => {
        const rows = await pilots();
        return rows.length === MAX && rows.every((r) => r.state === 'running') && d?.status()?.state === 'active'
          ? true
          : undefined;
      },
      300_000,
      500,
    );
    // every pilot the daemon started is running and shown, or gone from the engine
    const rows = await pilots();
    const shown = new Set(d.status()?.pilots.map((p) => p.id));
    for (const r of rows) assert.ok(shown.has(r.id), `pilot ${r.id} runs but the daemon does not show it`);
    const all = (await inner(['ps', '-aq', '--no-trunc'])).split('\n');
    for (const r of logRecords(d.log).filter((x) => x.event === 'pilot-started'))
      assert.ok(rows.some((p) => p.id === r.id) || !all.includes(String(r.id)), `pilot ${String(r.id)} left behind`);
    assert.ok(
      d.status()?.removals.some((r) => r.reason === 'exited' || r.reason === 'never-started'),
      'the pilots the engine lost were removed',
    );
    for (const f of foreign) {
      assert.equal(await inner(['inspect', '-f', '{{json .Config.Labels}}', f.id]), f.labels);
      assert.equal(await inner(['inspect', '-f', '{{.State.Status}}', f.id]), f.restarts ? 'running' : 'exited');
    }
    const removed = d.status()?.removals ?? [];
    t.diagnostic(
      `killed with ${startsBefore} of ${MAX} started; after the restart: ${removed.length} removed (${removed.map((r) => r.reason).join(', ')}), ${logRecords(d.log).filter((r) => r.event === 'pilot-started').length} starts in all`,
    );
    assert.equal(await d.kill('SIGTERM'), 0);
  });
});
