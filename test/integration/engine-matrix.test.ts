/**
 * The cases that matter to a user, against every engine docs/engines.md lists, side by side:
 * Docker 20.10 (the host engine), Docker 26 (trixie's docker.io in a privileged container,
 * .ci/setup/docker26.sh: the chart's dind mode) and Podman 4.3's Docker-compatible API
 * (.ci/setup/podman.sh). The three engines share no state, so their suites run at once.
 * Each engine: fill to max_docks with every pilot's CPU and memory found and its priority read
 * back from its own cgroups, a foreign look-alike untouched, an exited pilot replaced,
 * drain/resume, TTL, adopt after kill -9 without a duplicate, memory reclaim, drain-stop and
 * force-stop; the engine's restart for the two engines the tests own; then, one engine at a time,
 * pause then vacate.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import {
  DOCKER26_SOCKET,
  dockerOn,
  REQUIRE_ENGINE_ENV,
  randomInstance,
  removeContainers,
  TEST_RUN_LABEL,
  waitFor,
} from '../support/docker.ts';
import { DaemonProcess, logRecords, pilotsOf, testConfig } from '../support/daemon.ts';
import { cpuHog, readMemory, type Hog } from '../support/host.ts';

interface Engine {
  readonly name: string;
  readonly socket: string;
  /** What the suite expects of the pilots' priority, read back from their cgroups. */
  readonly idle: 'idle' | 'nested' | 'unsupported';
  /** Restarts the engine (undefined: the host engine, restarted by zz-engine-restart only). */
  readonly restart?: () => Promise<void>;
}

const SETUP = join(import.meta.dirname, '../../.ci/setup');
const ENGINES: Engine[] = [
  { name: 'Docker 20.10 (host engine)', socket: '/var/run/docker.sock', idle: 'idle' },
  {
    name: 'Docker 26 (dind)',
    socket: DOCKER26_SOCKET,
    idle: 'nested',
    restart: async () => {
      await execa('docker', ['restart', '-t', '5', process.env.PLANCTON_DOCKER26_NAME ?? 'plancton-ci-docker26'], {
        timeout: 120_000,
      });
    },
  },
  {
    name: 'Podman 4.3',
    socket: process.env.PLANCTON_PODMAN_SOCKET ?? '/run/plancton-podman/podman.sock',
    idle: 'idle',
    restart: async () => {
      await execa('bash', [join(SETUP, 'podman.sh'), 'stop'], { timeout: 120_000 });
      await execa('bash', [join(SETUP, 'podman.sh'), 'ensure'], { timeout: 300_000 });
    },
  },
];

/** `docker --host unix://SOCKET args…` (the docker CLI, not Plancton's client); rejects with stderr. */
const dk = (e: Engine, args: readonly string[]): Promise<string> => dockerOn(e.socket, e.name, args);

/** Running pilot ids of `instance` on the engine, sorted. */
async function running(e: Engine, instance: string): Promise<string[]> {
  const rows = await pilotsOf(instance, 'running', { docker: (args) => dk(e, args) });
  return rows.map((r) => r.id).sort();
}

async function all(e: Engine, instance: string): Promise<string[]> {
  const out = await dk(e, ['ps', '-aq', '--no-trunc', '--filter', `label=org.plancton.instance=${instance}`]);
  return out === '' ? [] : out.split('\n').sort();
}

/** The cpu cgroup of the pilot's processes as the host kernel shows it (any process naming the id). */
async function hostCpuCgroup(id: string): Promise<string | undefined> {
  const r = await execa('bash', ['-c', `grep -l -- '${id}' /proc/[0-9]*/cgroup 2>/dev/null | head -n 1`], {
    reject: false,
  });
  const file = String(r.stdout).trim();
  if (!file) return undefined;
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => /^\d+:(cpu,cpuacct|cpuacct,cpu|cpu):/.test(l) || l.startsWith('0::'));
  return line?.split(':').slice(2).join(':');
}

const answers = async (e: Engine): Promise<boolean> =>
  (await execa('docker', ['--host', `unix://${e.socket}`, 'version'], { reject: false, timeout: 30_000 })).exitCode ===
  0;

const present = await Promise.all(ENGINES.map(answers));
for (const [i, e] of ENGINES.entries()) {
  if (!present[i] && process.env[REQUIRE_ENGINE_ENV] === '1')
    throw new Error(
      `${REQUIRE_ENGINE_ENV}=1 but ${e.name} does not answer on ${e.socket} (.ci/setup/docker26.sh ensure, podman.sh ensure)`,
    );
}

describe('engine matrix', { concurrency: true, timeout: 20 * 60_000 }, () => {
  for (const [i, e] of ENGINES.entries()) {
    const skip = present[i]
      ? false
      : `${e.name} does not answer on ${e.socket}; set ${REQUIRE_ENGINE_ENV}=1 to fail instead`;
    describe(e.name, { skip, concurrency: 1, timeout: 20 * 60_000 }, () => {
      const instance = randomInstance();
      // pilots holding 32 MiB each, so that memory reclaim has a figure to size what it frees
      // Docker 26 in a container nests /plancton inside its own cgroup: idle only there, so Plancton
      // falls back to 0.6's kill-based rule; its lifecycle cases run as the chart's dind mode with
      // engine.dind.idle false does, with no idle parent (cgroup_parent ""). dind_idle stays off:
      // the shared engine container serves other tests (dind-idle.test.ts has a private one)
      const extra = {
        docker_socket: e.socket,
        dind_idle: false,
        max_docks: 3,
        cgroup_parent: e.idle === 'nested' ? '' : 'plancton',
        psi_memory: 0,
        memory_stop_timeout: 0,
        docker_cmd: ['sh', '-c', 'dd if=/dev/zero bs=32M count=1 2>/dev/null | sleep 600'],
      };
      let d: DaemonProcess | undefined;
      let foreign = '';
      let foreignStarted = '';

      before(async () => {
        // a look-alike: our name pattern and a managed-by label, but another instance's (restarted
        // with its engine, so that only Plancton could make it go)
        foreign = await dk(e, [
          'run',
          '-d',
          '--restart',
          'always',
          '--name',
          `plancton-worker-${instance.slice(-6)}`,
          '--label',
          `${TEST_RUN_LABEL}=${instance}`,
          '--label',
          'org.plancton.managed-by=plancton',
          '--label',
          'org.plancton.instance=someone-else',
          'busybox:latest',
          'sleep',
          '3600',
        ]);
        foreignStarted = await dk(e, ['inspect', '-f', '{{.State.StartedAt}}', foreign]);
      });

      after(async () => {
        await d?.cleanup();
        const ids = [...(await all(e, instance).catch(() => [])), foreign].filter(Boolean);
        await removeContainers(ids, e.socket);
        if (d) rmSync(d.dir, { recursive: true, force: true });
      });

      const full = (n = 3): Promise<string[]> =>
        waitFor(
          `${n} running pilots on ${e.name}`,
          async () => {
            const ids = await running(e, instance);
            return ids.length === n ? ids : undefined;
          },
          120_000,
          250,
        );

      it("fills to max_docks; every pilot's CPU and memory found; priority as the pilots' cgroups say", async () => {
        d = new DaemonProcess(testConfig(instance, { ...extra, cgroup_parent: 'plancton' })).start();
        const ids = await full();
        const status = await waitFor(
          'CPU and memory of every pilot in status',
          () => {
            const s = d?.status();
            const rows = s?.pilots.filter((p) => p.state === 'running') ?? [];
            return rows.length === 3 &&
              rows.every((p) => p.cpuPct !== undefined && p.memBytes !== undefined && p.memBytes > 0)
              ? s
              : undefined;
          },
          60_000,
          250,
        );
        const priority = status?.idlePriority;
        assert.ok(priority, 'no priority in status');
        for (const id of ids) {
          const cg = await hostCpuCgroup(id);
          assert.ok(cg, `no process of pilot ${id} on the host`);
          assert.match(
            cg,
            new RegExp(`/plancton/[^/]*${id}[^/]*$`),
            `pilot ${id} is not under a plancton parent: ${cg}`,
          );
          const cpuRoot =
            ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct'].find((r) => {
              try {
                readFileSync(join(r, 'cpu.shares'));
                return true;
              } catch {
                return false;
              }
            }) ?? '/sys/fs/cgroup';
          const parent = join(cpuRoot, cg, '..');
          // idle priority set where the pilots really are, whichever engine put them there
          assert.equal(readFileSync(join(parent, 'cpu.idle'), 'utf8').trim(), '1', `${parent}/cpu.idle`);
          if (e.idle === 'idle') assert.equal(cg.split('/').length, 3, `${cg}: the parent is a child of the root`);
        }
        if (e.idle === 'idle') {
          assert.equal(priority.enabled, true, priority.detail);
          assert.match(
            priority.detail,
            /read from the pilots' cgroups: 3 pilot\(s\): cpu\.idle=1 on \/plancton \(a child of the root\)/,
          );
        } else {
          // the dind engine's /plancton is idle among its siblings only: said, and the kill-based rule used
          assert.equal(priority.enabled, false, priority.detail);
          assert.match(
            priority.detail,
            /the dind engine's own cgroup: cpu\.shares=\d+(, cpu\.idle=0)?\) is not idle; idle only inside it/,
          );
          await waitFor(
            'the warning in the log',
            () =>
              /pilots do NOT run at idle priority.*falling back to the kill-based CPU rule/.test(d?.log ?? '')
                ? true
                : undefined,
            30_000,
          );
          // the rest as the chart's dind mode runs: no idle parent, which status says too
          assert.equal((await d?.cli('force-stop'))?.exitCode, 0);
          assert.equal((await d?.cli('resume'))?.exitCode, 0);
          d?.writeConfig(testConfig(instance, extra));
          const restarted = Date.now();
          d?.start();
          await full();
          // the new daemon's status: the one before it stays in the run directory until then
          const plain = await waitFor(
            'priority read back without an idle parent',
            () => {
              const st = d?.status();
              return st && st.startedAt >= restarted - 1000 && st.idlePriority?.detail.startsWith('read from')
                ? st.idlePriority
                : undefined;
            },
            60_000,
            250,
          );
          assert.equal(plain.enabled, false);
          assert.match(
            plain.detail,
            /NOT idle: 3 pilot\(s\): no idle-priority group above the pilots; \/docker \(the pilots' top-level group/,
          );
        }
        assert.equal(
          await dk(e, ['inspect', '-f', '{{.State.Status}} {{.State.StartedAt}}', foreign]),
          `running ${foreignStarted}`,
          'foreign look-alike touched',
        );
      });

      it('replaces an exited pilot', async () => {
        const before = await full();
        await dk(e, ['kill', before[0] ?? '']);
        const after = await waitFor(
          'a replacement',
          async () => {
            const ids = await running(e, instance);
            return ids.length === 3 && !ids.includes(before[0] ?? '') ? ids : undefined;
          },
          120_000,
          250,
        );
        assert.equal(after.filter((id) => before.includes(id)).length, 2);
      });

      it('drain starts nothing, resume refills', async () => {
        assert.equal((await d?.cli('drain'))?.exitCode, 0);
        await waitFor('drain in status', () => (d?.status()?.controls.drain ? true : undefined), 30_000);
        const [victim = ''] = await full();
        await dk(e, ['rm', '-f', victim]);
        const seen = d?.status()?.iterations ?? 0;
        await waitFor('two passes', () => ((d?.status()?.iterations ?? 0) >= seen + 2 ? true : undefined), 60_000);
        assert.equal((await running(e, instance)).length, 2, 'a pilot started while draining');
        assert.equal((await d?.cli('resume'))?.exitCode, 0);
        await full();
      });

      it('adopts its pilots after kill -9, without a duplicate', async () => {
        const before = await full();
        await d?.kill('SIGKILL');
        d?.start();
        const seen = await waitFor(
          'the new daemon iterating',
          () =>
            d?.status()?.pid === d?.proc?.pid && (d?.status()?.iterations ?? 0) >= 1
              ? d?.status()?.iterations
              : undefined,
          60_000,
        );
        await waitFor(
          'three passes',
          () => ((d?.status()?.iterations ?? 0) >= (seen ?? 0) + 3 ? true : undefined),
          60_000,
        );
        assert.deepEqual(await all(e, instance), before, 'the same pilots, none added');
      });

      it('TTL: pilots older than max_ttl are replaced', async () => {
        const before = await full();
        d?.writeConfig(testConfig(instance, { ...extra, max_ttl: 3 }));
        await waitFor(
          'every pilot replaced',
          async () => {
            const ids = await running(e, instance);
            return ids.length === 3 && ids.every((id) => !before.includes(id)) ? true : undefined;
          },
          120_000,
          250,
        );
        d?.writeConfig(testConfig(instance, extra));
        const settled = await full();
        const seen = d?.status()?.iterations ?? 0;
        await waitFor('config reloaded', () => ((d?.status()?.iterations ?? 0) >= seen + 2 ? true : undefined), 60_000);
        assert.equal(settled.length, 3);
      });

      it('memory reclaim takes the youngest pilot when MemAvailable falls under mem_floor, sized by its memory', async () => {
        const before = await full();
        await waitFor(
          "every pilot's memory in status",
          () => {
            const rows = d?.status()?.pilots.filter((p) => p.state === 'running') ?? [];
            return rows.length === 3 && rows.every((r) => (r.memBytes ?? 0) >= 32 * 1024 * 1024) ? true : undefined;
          },
          60_000,
          250,
        );
        const started = await Promise.all(
          before.map(async (id) => ({
            id,
            at: Date.parse(await dk(e, ['inspect', '-f', '{{.State.StartedAt}}', id])),
          })),
        );
        // MemAvailable and the per-CPU lists' free pages, as the daemon counts
        const avail = readMemory().availableBytes;
        const removalsBefore = d?.status()?.removalsTotal ?? 0;
        d?.writeConfig(testConfig(instance, { ...extra, mem_floor: avail + 16 * 1024 * 1024 }));
        try {
          await waitFor(
            'a memory removal',
            () => d?.status()?.removals.find((r) => r.reason === 'memory'),
            60_000,
            250,
          );
          // the other engines' pilots start and end meanwhile, and MemAvailable with them: the
          // daemon may need more than one pilot, so what is checked is the order (the removals of
          // one pass end in any order): every pilot taken was younger than every pilot kept
          await sleep(2000);
          const taken = new Set(
            d
              ?.status()
              ?.removals.filter((r) => r.reason === 'memory')
              .map((r) => r.id),
          );
          const byAge = [...started].sort((a, b) => b.at - a.at).map((p) => p.id);
          const firstKept = byAge.findIndex((id) => !taken.has(id));
          assert.ok(taken.size > 0);
          assert.ok(
            firstKept === -1 || byAge.slice(firstKept).every((id) => !taken.has(id)),
            `youngest first: taken ${[...taken].map((id) => byAge.indexOf(id)).join(',')} of ages 0 (youngest) to 2`,
          );
          assert.ok((d?.status()?.removalsTotal ?? 0) > removalsBefore);
        } finally {
          d?.writeConfig(testConfig(instance, extra));
        }
        await full();
      });

      if (e.restart) {
        it("survives its engine's restart and refills", async () => {
          await full();
          await e.restart?.();
          await waitFor(`${e.name} back`, async () => ((await answers(e)) ? true : undefined), 180_000, 500);
          if (e.name.startsWith('Docker 26')) {
            // the dind container restarted with its storage: busybox is still there
            await dk(e, ['image', 'inspect', 'busybox:latest']);
          }
          await full();
          await waitFor(
            'the engine reachable in status',
            () => (d?.status()?.engine.reachable ? true : undefined),
            60_000,
          );
        });
      }

      it('drain-stop exits once no pilot is left, force-stop removes every pilot', async () => {
        await full();
        assert.equal((await d?.cli('force-stop'))?.exitCode, 0);
        assert.equal(await d?.exited(), 0);
        assert.deepEqual(await all(e, instance), [], 'pilots left after force-stop');
        // force-stop leaves the instance drained (as 0.6 did): resume before the next start
        assert.equal((await d?.cli('resume'))?.exitCode, 0);
        d?.start();
        await full();
        assert.equal((await d?.cli('drain', '--stop'))?.exitCode, 0);
        for (const id of await running(e, instance)) await dk(e, ['rm', '-f', id]);
        assert.equal(await d?.exited(), 0, 'drain-stop: exit once no pilot is left');
        assert.equal(
          await dk(e, ['inspect', '-f', '{{.State.Status}}', foreign]),
          'running',
          'foreign look-alike touched',
        );
      });
    });
  }
});

// The owner's load is the whole host's, so these run one engine at a time, after the matrix
// (Docker 20.10's own case is test/integration/host-back-pause.test.ts).
describe('pause then vacate, per engine', { concurrency: 1, timeout: 15 * 60_000 }, () => {
  for (const [i, e] of ENGINES.entries()) {
    if (!e.restart) continue;
    const skip = present[i] ? false : `${e.name} does not answer on ${e.socket}`;
    describe(e.name, { skip }, () => {
      const instance = randomInstance();
      let d: DaemonProcess | undefined;
      let hog: Hog | undefined;
      after(async () => {
        await hog?.end();
        await d?.cleanup();
        const ids = await all(e, instance).catch(() => []);
        await removeContainers(ids, e.socket);
        if (d) rmSync(d.dir, { recursive: true, force: true });
      });

      it('a busy owner pauses the pilot through the engine, and past pause_max it is vacated', async () => {
        d = new DaemonProcess(
          testConfig(instance, {
            docker_socket: e.socket,
            cgroup_parent: e.idle === 'nested' ? '' : 'plancton',
            cpu_policy: 'owner',
            pause_max: 3,
            max_docks: 1,
            cpus_per_dock: 1,
            grace_kill: 600,
            // a busy pilot: at idle priority next to a busy owner it hardly runs, and must still freeze at the first try
            docker_cmd: ['sh', '-c', 'for i in 1 2 3 4; do (while :; do :; done) & done; wait'],
          }),
        ).start();
        const [pilot = ''] = await waitFor(
          'a running pilot',
          async () => {
            const ids = await running(e, instance);
            return ids.length === 1 ? ids : undefined;
          },
          120_000,
          250,
        );
        hog = cpuHog(cpus().length);
        await waitFor(
          'the pilot paused by the engine',
          async () =>
            (await dk(e, ['inspect', '-f', '{{.State.Paused}}', pilot]).catch(() => '')) === 'true' ? true : undefined,
          60_000,
          250,
        );
        const first = await waitFor(
          'the first pause in the log',
          () => logRecords(d?.log ?? '').find((r) => r.event === 'pilot-paused' || r.event === 'pilot-pause-failed'),
          10_000,
        );
        assert.equal(first.event, 'pilot-paused', `the first pause succeeded: ${JSON.stringify(first)}`);
        // a paused pilot is vacated (unpaused, stopped) at idle priority next to the busy owner, so
        // its processes hardly run to end: slow on a loaded machine (the lift of the pilots' group,
        // docs/benchmarks.md section 7, covers pauses only), so the wait is generous (once over
        // 60 s on Podman in a rehearsal, beside the HTCondor lane)
        const removal = await waitFor(
          'a pause-timeout removal',
          () => d?.status()?.removals.find((r) => r.reason === 'pause-timeout'),
          180_000,
          250,
        );
        assert.equal(removal.id, pilot);
        assert.deepEqual(await all(e, instance), [], 'the paused pilot is gone');
      });
    });
  }
});
