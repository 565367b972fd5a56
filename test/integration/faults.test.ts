/**
 * The fault suite of issue 13 on the real engine (Docker 20.10, the host engine: it is never
 * stopped here). Each case asserts that nothing is lost (every pilot the daemon created is
 * removed or adopted, no container of the instance is left exited or never started) and that
 * nothing foreign is touched (look-alikes with our name pattern and partial labels still run,
 * unrestarted).
 *
 * Here: the daemon kill -9'd mid-vacate (force-stop, then max_ttl), a registry that is down, an
 * image no registry has, crash-looping pilots, look-alike containers and a pilot image carrying
 * Plancton's self label. Elsewhere, not repeated here: dockerd killed mid-fill
 * (fault-dind.test.ts, on a private Docker 26 in a container); a registry that refuses a wrong
 * password while pilots keep starting from the image present, with the password in no output
 * (registry-auth.test.ts); two daemons on one run directory and symlinks planted in it
 * (fault-safety.test.ts); kill -9 while idle and adoption (daemon-lifecycle.test.ts); the
 * engine stopped and restarted (zz-engine-restart.test.ts, engine-matrix.test.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { docker, randomInstance, removeByLabel, requireEngine, TEST_RUN_LABEL, waitFor } from '../support/docker.ts';
import {
  assertUntouched,
  DaemonProcess,
  foreignContainer,
  logRecords,
  PILOT_LABELS,
  pilotsOf,
  testConfig,
  type PilotRow,
} from '../support/daemon.ts';
import { freePort, registryMissing, TestRegistry } from '../support/registry.ts';

const skip = await requireEngine('busybox:latest');
const noRegistry = await registryMissing();
if (noRegistry && process.env.PLANCTON_REQUIRE_ENGINE === '1')
  throw new Error(`PLANCTON_REQUIRE_ENGINE=1 but ${noRegistry}`);
const run = randomInstance();
const PASSWORD = `Faults-${randomInstance()}`;

/** The containers of `instance` that carry Plancton's pilot labels (look-alikes left out), as the engine sees them. */
const pilots = (instance: string): Promise<PilotRow[]> => pilotsOf(instance, undefined, { labels: PILOT_LABELS });

const running = async (instance: string): Promise<string[]> =>
  (await pilots(instance)).filter((p) => p.state === 'running').map((p) => p.id);

/** Kills one of the instance's two running pilots and waits until another has taken its place. */
async function replaceOne(instance: string): Promise<void> {
  const [victim] = await running(instance);
  await docker(['kill', victim ?? '']);
  await waitFor(
    'the ended pilot replaced',
    async () => {
      const ids = await running(instance);
      return ids.length === 2 && !ids.includes(victim ?? '') ? true : undefined;
    },
    120_000,
  );
}

/** Ids of the pilots the daemon says it started, from its log. */
const startedIds = (log: string): string[] =>
  logRecords(log)
    .filter((r) => r.event === 'pilot-started')
    .map((r) => String(r.id));

/**
 * Nothing lost: every container of the instance runs and is one the daemon shows (adopted), and
 * every pilot the daemon ever started is either one of them or gone from the engine.
 */
async function assertNothingLeaked(instance: string, d: DaemonProcess, logs: readonly string[]): Promise<void> {
  const rows = await pilots(instance);
  assert.deepEqual(
    rows.filter((r) => r.state !== 'running'),
    [],
    'a pilot left exited, dead or never started',
  );
  const shown = new Set(d.status()?.pilots.map((p) => p.id));
  for (const r of rows) assert.ok(shown.has(r.id), `pilot ${r.id} runs but the daemon does not show it`);
  const present = new Set(rows.map((r) => r.id));
  const all = (await docker(['ps', '-aq', '--no-trunc'])).split('\n');
  for (const id of logs.flatMap(startedIds))
    assert.ok(present.has(id) || !all.includes(id), `pilot ${id} started by the daemon is still there, not owned`);
}

/** Foreign containers: our name pattern, some of our labels, never all that make a pilot of `instance`. */
async function lookAlikes(instance: string): Promise<Array<{ id: string; startedAt: string }>> {
  const tag = { [TEST_RUN_LABEL]: run };
  const suffix = instance.slice(-6);
  return Promise.all([
    foreignContainer(`plancton-worker-${suffix}`, tag),
    foreignContainer(`plancton-worker-${suffix}o`, {
      ...tag,
      'org.plancton.managed-by': 'plancton',
      'org.plancton.instance': `${instance}-other`,
      'org.plancton.role': 'pilot',
    }),
    // Plancton's own container, as its image labels it: never a pilot
    foreignContainer(`plancton-${suffix}-self`, {
      ...tag,
      'org.plancton.managed-by': 'plancton',
      'org.plancton.instance': instance,
      'org.plancton.self': 'true',
    }),
    foreignContainer(`plancton-worker-${suffix}n`, {
      ...tag,
      'org.plancton.instance': instance,
      'org.plancton.role': 'pilot',
    }),
    foreignContainer(`plancton-worker-${suffix}m`, {
      ...tag,
      'org.plancton.managed-by': 'plancton-not',
      'org.plancton.instance': instance,
      'org.plancton.role': 'pilot',
    }),
  ]);
}

describe('faults on the real engine', { skip, timeout: 900_000 }, () => {
  const instances: string[] = [];
  const daemons: DaemonProcess[] = [];
  const images: string[] = [];
  const newInstance = (): string => {
    const i = randomInstance();
    instances.push(i);
    return i;
  };
  const daemon = (yaml: string): DaemonProcess => {
    const d = new DaemonProcess(yaml);
    daemons.push(d);
    return d;
  };

  after(async () => {
    for (const d of daemons) await d.cleanup();
    for (const i of instances) await removeByLabel(`org.plancton.instance=${i}`);
    await removeByLabel(`${TEST_RUN_LABEL}=${run}`);
    for (const image of images) await execa('docker', ['rmi', image], { reject: false });
  });

  describe('the daemon kill -9ed mid-vacate, then started again', () => {
    /** Waits until the engine has sent SIGTERM to `n` pilots of `instance` since `since` (a stop under way). */
    const stopsUnderWay = (instance: string, since: number, n: number): Promise<string[]> =>
      waitFor(
        `${n} stops under way`,
        async () => {
          const out = await docker([
            'events',
            '--since',
            String(since),
            '--until',
            String(Math.floor(Date.now() / 1000) + 1),
            '--filter',
            `label=org.plancton.instance=${instance}`,
            '--filter',
            'event=kill',
            '--format',
            '{{.ID}}',
          ]);
          const ids = [...new Set(out.split('\n').filter(Boolean))];
          return ids.length >= n ? ids : undefined;
        },
        120_000,
        250,
      );

    it('force-stop: the restarted daemon finishes removing every pilot and exits 0', async () => {
      const instance = newInstance();
      const foreign = await lookAlikes(instance);
      // `sleep` as a container's first process ignores SIGTERM: each stop takes the whole grace
      const d = daemon(testConfig(instance, { max_docks: 2, stop_timeout: 20 }));
      d.start();
      await waitFor('2 pilots', async () => ((await running(instance)).length === 2 ? true : undefined), 120_000);
      const ids = (await running(instance)).sort();
      const since = Math.floor(Date.now() / 1000) - 1;
      const asked = await d.cli('force-stop', '--timeout', '1');
      assert.equal(asked.exitCode, 1, 'force-stop cannot finish within 1 s: the pilots take 20 s each');
      await stopsUnderWay(instance, since, 2);
      const firstLog = d.log;
      assert.equal(await d.kill('SIGKILL'), undefined);
      assert.deepEqual((await running(instance)).sort(), ids, 'the pilots outlive the daemon, still stopping');

      d.start();
      assert.equal(await d.exited(), 0, d.log);
      assert.deepEqual(await pilots(instance), [], 'every pilot removed');
      const removed = d.status()?.removals.filter((r) => ids.includes(r.id)) ?? [];
      assert.deepEqual(removed.map((r) => r.id).sort(), ids);
      await assertNothingLeaked(instance, d, [firstLog, d.log]);
      for (const f of foreign) await assertUntouched(f);
    });

    it('max_ttl: the restarted daemon adopts what still runs, removes what ended, and refills to max_docks', async (t) => {
      const instance = newInstance();
      const foreign = await lookAlikes(instance);
      const config = (ttl: number): string => testConfig(instance, { max_docks: 2, stop_timeout: 15, max_ttl: ttl });
      const d = daemon(config(3600));
      d.start();
      await waitFor('2 pilots', async () => ((await running(instance)).length === 2 ? true : undefined), 120_000);
      const since = Math.floor(Date.now() / 1000) - 1;
      d.writeConfig(config(2));
      await stopsUnderWay(instance, since, 2);
      const firstLog = d.log;
      const stopping = (await running(instance)).sort();
      await d.kill('SIGKILL');
      d.writeConfig(config(3600));
      d.start();
      // whether the engine finishes the stops it was asked for (then the new daemon removes those
      // pilots and refills) or drops them with the client, look once their grace is over
      const killedAt = Date.now();
      await waitFor("the stops' grace over", () => (Date.now() - killedAt > 20_000 ? true : undefined), 30_000, 500);
      await waitFor(
        '2 running pilots and nothing else, the daemon iterating',
        async () => {
          const rows = await pilots(instance);
          const st = d.status();
          return rows.length === 2 &&
            rows.every((r) => r.state === 'running') &&
            st?.pid === d.proc?.pid &&
            st?.pilots.length === 2
            ? true
            : undefined;
        },
        180_000,
        500,
      );
      await assertNothingLeaked(instance, d, [firstLog, d.log]);
      const now = (await running(instance)).sort();
      t.diagnostic(
        `${stopping.filter((id) => now.includes(id)).length} of the 2 pilots being vacated adopted, ${now.filter((id) => !stopping.includes(id)).length} new; removals: ${(d.status()?.removals ?? []).map((r) => r.reason).join(', ')}`,
      );
      assert.equal(d.running, true);
      assert.equal(await d.kill('SIGTERM'), 0);
      for (const f of foreign) await assertUntouched(f);
    });
  });

  it('a registry that is down: an error naming it, pilots keep starting from the image present, no password shown', async () => {
    const instance = newInstance();
    const gone = `127.0.0.1:${await freePort()}`;
    const image = `${gone}/plancton-faults/down-${instance}:1`;
    await docker(['tag', 'busybox:latest', image]);
    images.push(image);
    const d = daemon(
      testConfig(instance, {
        docker_image: image,
        max_docks: 2,
        image_expiration: 2,
        pull_retry: 2,
        registry_username: 'faults',
        registry_password: PASSWORD,
      }),
    );
    d.start();
    const failure = await waitFor(
      'a failed pull naming the registry',
      () =>
        logRecords(d.log).find(
          (r) => r.level === 'error' && String(r.message).includes(`pull image ${image} from registry ${gone}`),
        ),
      60_000,
    );
    assert.match(String(failure.message), /connection refused/);
    await waitFor('2 pilots', async () => ((await running(instance)).length === 2 ? true : undefined), 120_000);
    // a pilot that ends is replaced from the image present, while the pulls keep failing
    await replaceOne(instance);
    await waitFor(
      'the pull retried after pull_retry',
      () =>
        logRecords(d.log).filter((r) => r.level === 'error' && String(r.message).includes(gone)).length >= 2
          ? true
          : undefined,
      60_000,
    );
    assert.equal((await running(instance)).length, 2);
    const status = await d.cli('status', '--json');
    assert.equal(await d.kill('SIGTERM'), 0);
    for (const [where, text] of [
      ['the daemon log', d.log],
      ['status --json', status.stdout + status.stderr],
    ] as const)
      assert.ok(!text.includes(PASSWORD), `the password appears in ${where}`);
    await assertNothingLeaked(instance, d, [d.log]);
  });

  describe('an image no registry has', { skip: noRegistry ?? false }, () => {
    const registry = new TestRegistry();
    before(async () => {
      await registry.start('faults', PASSWORD);
    });
    after(async () => {
      await registry.stop();
    });

    it('a clear error naming the image, pulls retried every pull_retry (no busy loop), the loop keeps its pace and still vacates', async (t) => {
      const instance = newInstance();
      const missing = `${registry.host}/plancton-faults/missing-${instance}:1`;
      const config = (extra: Record<string, unknown>): string =>
        testConfig(instance, {
          max_docks: 2,
          pull_retry: 5,
          registry_username: 'faults',
          registry_password: PASSWORD,
          stop_timeout: 1,
          ...extra,
        });
      const d = daemon(config({}));
      d.start();
      await waitFor('2 pilots', async () => ((await running(instance)).length === 2 ? true : undefined), 120_000);
      // the image becomes one no registry has; the pilots must still go when due (max_ttl)
      d.writeConfig(config({ docker_image: missing, max_ttl: 8 }));
      const pulls = (): Array<Record<string, unknown>> =>
        logRecords(d.log).filter((r) => r.message === 'pulling pilot image' && r.image === missing);
      const failure = await waitFor(
        'a failed pull naming the image',
        () =>
          logRecords(d.log).find(
            (r) => r.level === 'error' && String(r.message).includes(`pull image ${missing} from registry`),
          ),
        60_000,
      );
      assert.match(String(failure.message), /not found|manifest unknown|does not exist/i, String(failure.message));
      const first = pulls().length;
      const iterations = d.status()?.iterations ?? 0;
      const t0 = Date.now();
      await waitFor(
        'the pilots vacated at max_ttl',
        async () => ((await pilots(instance)).length === 0 ? true : undefined),
        120_000,
      );
      await waitFor('20 s more', () => (Date.now() - t0 >= 20_000 ? true : undefined), 30_000, 500);
      const seconds = (Date.now() - t0) / 1000;
      const tried = pulls().length - first;
      t.diagnostic(`${tried} pulls in ${seconds.toFixed(1)} s with pull_retry 5; ${String(failure.message)}`);
      assert.ok(tried >= 1, 'the pull is retried');
      assert.ok(tried <= Math.ceil(seconds / 5) + 1, `${tried} pulls in ${seconds} s with pull_retry 5`);
      const st = d.status();
      assert.ok((st?.iterations ?? 0) - iterations >= seconds / 4, 'the loop keeps its pace (main_sleep 1)');
      assert.equal(st?.fit?.blocked, 'image-missing');
      assert.ok(
        st?.removals.filter((r) => r.reason === 'ttl').length === 2,
        'both pilots vacated while the image is missing',
      );
      assert.equal(d.running, true, 'no crash');
      assert.equal(await d.kill('SIGTERM'), 0);
      assert.ok(!d.log.includes(PASSWORD));
      await assertNothingLeaked(instance, d, [d.log]);
    });
  });

  it('crash-looping pilots (exit 1 at once): starts held back by the backoff, nothing leaked', async (t) => {
    const instance = newInstance();
    const d = daemon(
      testConfig(instance, {
        max_docks: 3,
        docker_cmd: ['sh', '-c', 'exit 1'],
        no_work_uptime: 10,
        backoff_base: 2,
        backoff_max: 8,
      }),
    );
    d.start();
    await waitFor('the first 3 starts', () => (startedIds(d.log).length >= 3 ? true : undefined), 120_000);
    const t0 = Date.now();
    let most = 0;
    await waitFor(
      '40 s of crash loop',
      async () => {
        most = Math.max(most, (await pilots(instance)).length);
        return Date.now() - t0 >= 40_000 ? true : undefined;
      },
      60_000,
      500,
    );
    const starts = startedIds(d.log).length;
    t.diagnostic(
      `${starts} starts in ${((Date.now() - t0) / 1000).toFixed(1)} s (3 before), at most ${most} containers at once`,
    );
    // without a backoff: 3 every pass (each exit wakes the loop), ~120 in 40 s; with it, levels of
    // 1-2, 2-4, 4-8, then 4-8 s (equal jitter), one probe at a time: at most 3 + 1 per second
    // of waiting, ~12 here
    assert.ok(starts <= 20, `${starts} starts in 40 s`);
    assert.ok(most <= 3, `at most max_docks containers at once (${most})`);
    const st = d.status();
    assert.ok((st?.fit?.backoffLevel ?? 0) >= 2, `backoff level ${st?.fit?.backoffLevel}`);
    assert.ok(st?.removals.every((r) => r.reason === 'exited' && r.exitCode === 1));
    const stop = await d.cli('force-stop');
    assert.equal(stop.exitCode, 0, stop.stdout + stop.stderr);
    assert.equal(await d.exited(), 0);
    assert.deepEqual(await pilots(instance), []);
    await assertNothingLeaked(instance, d, [d.log]);
  });

  it("look-alike containers untouched; pilots of an image carrying Plancton's self label still counted", async () => {
    const instance = newInstance();
    const image = `plancton-faults-self:${instance}`;
    await execa('docker', ['build', '-q', '-t', image, '--label', `${TEST_RUN_LABEL}=${run}`, '-'], {
      input: 'FROM busybox:latest\nLABEL org.plancton.self="true" org.plancton.managed-by="plancton"\n',
    });
    images.push(image);
    const foreign = [
      ...(await lookAlikes(instance)),
      // someone else's container of that image, named as a pilot
      await (async () => {
        const name = `plancton-worker-${instance.slice(-5)}s`;
        const id = await docker([
          'run',
          '-d',
          '--name',
          name,
          '--label',
          `${TEST_RUN_LABEL}=${run}`,
          image,
          'sleep',
          '3600',
        ]);
        return { id, startedAt: await docker(['inspect', '-f', '{{.State.StartedAt}}', id]) };
      })(),
    ];
    const d = daemon(testConfig(instance, { max_docks: 2, docker_image: image }));
    d.start();
    await waitFor('2 pilots', async () => ((await running(instance)).length === 2 ? true : undefined), 120_000);
    const iterations = d.status()?.iterations ?? 0;
    await waitFor('5 more passes', () => ((d.status()?.iterations ?? 0) >= iterations + 5 ? true : undefined), 60_000);
    assert.equal((await pilots(instance)).length, 2, 'max_docks holds: the pilots are seen');
    assert.equal(d.status()?.pilots.length, 2);
    assert.equal(startedIds(d.log).length, 2, 'no pilot started beyond max_docks');
    // an ended pilot is replaced, the look-alikes are not mistaken for one
    await replaceOne(instance);
    const stop = await d.cli('force-stop');
    assert.equal(stop.exitCode, 0, stop.stdout + stop.stderr);
    assert.equal(await d.exited(), 0);
    assert.deepEqual(await pilots(instance), []);
    await assertNothingLeaked(instance, d, [d.log]);
    for (const f of foreign) await assertUntouched(f);
  });
});
