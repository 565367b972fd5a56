/**
 * The image's configuration sources and stop behaviour, each run with the README's `docker run`
 * flags plus the options under test (another name, a test instance id, fast settings):
 * environment, a mounted file, a URL on 127.0.0.1 (with bad fetches), HEALTHCHECK, on_stop.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { docker, dockerInspect, removeByLabel, TEST_RUN_LABEL, waitFor } from '../support/docker.ts';
import {
  NODE_IMAGE,
  PILOT_IMAGE,
  allPilots,
  dockerExec,
  ensureImage,
  forceRemove,
  quickStart,
  randomSuffix,
  requireImages,
  runningPilots,
  statusIn,
  variantArgs,
  yamlOf as yaml,
} from '../support/image.ts';

const skip = await requireImages(NODE_IMAGE, PILOT_IMAGE);

/** Settings that make a test quick and immune to a busy machine (no overload removal). */
const FAST: Record<string, string | number> = {
  main_sleep: 1,
  updateconfig: 1,
  cpus_per_dock: 0.05,
  max_dock_mem: 64 * 1024 * 1024,
  stop_timeout: 1,
  grace_kill: 600,
  grace_spawn: 0,
};
const envArgs = (vars: Record<string, string | number>): string[] =>
  Object.entries(vars).flatMap(([k, v]) => ['-e', `PLANCTON_${k.toUpperCase()}=${v}`]);
describe('the image: configuration, health and stop', { skip, timeout: 15 * 60_000 }, () => {
  const { run } = quickStart();
  const run_ = `e2e-${randomSuffix()}`;
  let dir = '';
  let instances: string[] = [];

  /** Starts a Plancton container for one test: the README's flags plus `extra`; returns its name and instance. */
  async function start(tag: string, extra: readonly string[]): Promise<{ name: string; instance: string }> {
    const name = `plancton-${run_}-${tag}`;
    const instance = `${run_}-${tag}`;
    instances.push(instance);
    await docker(
      variantArgs(run, name, [
        '--label',
        `${TEST_RUN_LABEL}=${run_}`,
        '-e',
        `PLANCTON_INSTANCE_ID=${instance}`,
        ...extra,
      ]),
    );
    return { name, instance };
  }

  const pilotsUp = (instance: string, n: number, timeoutMs = 60_000): Promise<string[]> =>
    waitFor(
      `${n} running pilots of ${instance}`,
      async () => {
        const ids = await runningPilots(instance);
        return ids.length === n ? ids : undefined;
      },
      timeoutMs,
    );

  /** Waits until the daemon in `name` has taken `passes` more passes. */
  async function passes(name: string, n: number): Promise<void> {
    const seen = (await waitFor('a status report', () => statusIn(name), 60_000)).iterations;
    await waitFor(
      `${n} passes of ${name}`,
      async () => ((await statusIn(name))?.iterations ?? 0) >= seen + n || undefined,
      60_000,
    );
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'plancton-e2e-'));
    await ensureImage();
  });

  afterEach(async () => {
    await removeByLabel(`${TEST_RUN_LABEL}=${run_}`);
    for (const instance of instances) await forceRemove(...(await allPilots(instance)));
    instances = [];
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reads PLANCTON_* variables; PLANCTON_START_DRAIN starts drained; plancton config check works', async () => {
    const { name, instance } = await start('env', [
      ...envArgs({ ...FAST, max_docks: 2, docker_cmd: 'sleep 601' }),
      '-e',
      'PLANCTON_START_DRAIN=1',
    ]);
    await passes(name, 3);
    const drained = await statusIn(name);
    assert.equal(drained?.controls.drain, true);
    assert.deepEqual(await runningPilots(instance), [], 'no pilot while started drained');
    assert.equal((await dockerExec(name, ['plancton', 'resume'])).exitCode, 0);

    const ids = await pilotsUp(instance, 2);
    for (const id of ids) {
      const p = await dockerInspect(id);
      assert.deepEqual(p?.Config.Cmd, ['sleep', '601']);
      assert.equal(p.HostConfig.CpuQuota, 5000);
    }
    const show = await dockerExec(name, ['plancton', 'config', 'show']);
    assert.equal(show.exitCode, 0, show.stderr);
    assert.match(show.stdout, /^max_docks: "?2"? +# env$/m);
    assert.match(show.stdout, /^docker_image: busybox +# file$/m, 'the embedded default under the variables');
    const check = await dockerExec(name, ['plancton', 'config', 'check']);
    assert.equal(check.exitCode, 0, check.stderr);
  });

  it('reads a mounted /etc/plancton/config.yaml (variables on top), and follows edits to it', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, yaml({ ...FAST, max_docks: 1, docker_cmd: 'sleep 602', log_level: 'info' }));
    const { name, instance } = await start('file', [
      '-v',
      `${file}:/etc/plancton/config.yaml:ro`,
      '-e',
      'PLANCTON_LOG_LEVEL=debug',
    ]);
    const [id] = await pilotsUp(instance, 1);
    assert.deepEqual((await dockerInspect(id ?? ''))?.Config.Cmd, ['sleep', '602']);
    const status = await waitFor('a status report', () => statusIn(name), 30_000);
    assert.equal(status.config.source, '/etc/plancton/config.yaml');
    const show = await dockerExec(name, ['plancton', 'config', 'show']);
    assert.match(show.stdout, /^log_level: debug +# env$/m);
    assert.match(show.stdout, /^docker_cmd: sleep 602 +# file$/m);

    // rewritten in place (same inode), as a bind-mounted file must be
    writeFileSync(file, yaml({ ...FAST, max_docks: 2, docker_cmd: 'sleep 602', log_level: 'info' }));
    await pilotsUp(instance, 2);
  });

  it('reads PLANCTON_CONF_URL, re-fetches it, and keeps the last good configuration when fetches fail', async () => {
    let body = yaml({ ...FAST, max_docks: 1, docker_cmd: 'sleep 603' });
    let failing = false;
    let requests = 0;
    const server: Server = createServer((req, res) => {
      requests++;
      if (failing) res.writeHead(500).end('broken');
      else res.writeHead(200, { 'content-type': 'application/yaml' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/plancton.yaml`;
    try {
      // the server listens on the host's loopback only: the container shares the host's network
      const { name, instance } = await start('url', [
        '--network',
        'host',
        '-e',
        `PLANCTON_CONF_URL=${url}`,
        '-e',
        'PLANCTON_CONF_UPDATE=1',
      ]);
      const [id] = await pilotsUp(instance, 1);
      assert.deepEqual((await dockerInspect(id ?? ''))?.Config.Cmd, ['sleep', '603']);
      assert.equal((await waitFor('a status report', () => statusIn(name), 30_000)).config.source, url);

      body = yaml({ ...FAST, max_docks: 2, docker_cmd: 'sleep 603' });
      await pilotsUp(instance, 2);
      const good = await waitFor(
        'the status of max_docks 2',
        async () => {
          const s = await statusIn(name);
          return s?.config.maxDocks === 2 ? s : undefined;
        },
        30_000,
      );

      failing = true;
      const before500 = requests;
      await waitFor('three failed fetches', () => (requests >= before500 + 3 ? true : undefined), 30_000);
      await passes(name, 2);
      const kept = await statusIn(name);
      assert.equal(kept?.running, true);
      assert.equal(kept.config.hash, good?.config.hash, 'the last good configuration is kept');
      assert.equal(kept.config.maxDocks, 2);
      assert.equal((await runningPilots(instance)).length, 2);

      // the server goes away altogether; then a restart finds it gone and uses the cached copy
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await passes(name, 3);
      const beforeRestart = await statusIn(name);
      assert.equal(beforeRestart?.config.maxDocks, 2);
      await docker(['restart', name]);
      // the status file outlives the restart: wait for the new daemon's own second pass
      const restarted = await waitFor(
        '2 passes of the restarted daemon',
        async () => {
          const s = await statusIn(name);
          return s && s.startedAt > beforeRestart.startedAt && s.iterations >= 2 ? s : undefined;
        },
        60_000,
      );
      assert.equal(restarted?.running, true);
      assert.equal(restarted.config.maxDocks, 2, 'the last good configuration survives a restart with the server down');
      assert.equal((await runningPilots(instance)).length, 2, 'pilots adopted, none added');
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });

  it('HEALTHCHECK turns healthy, and unhealthy when the engine cannot be reached', async () => {
    const health = [
      '--health-interval',
      '1s',
      '--health-timeout',
      '10s',
      '--health-retries',
      '2',
      '--health-start-period',
      '1s',
    ];
    const { name } = await start('healthy', [...health, ...envArgs(FAST)]);
    await waitFor(
      'healthy',
      async () =>
        (await docker(['inspect', '-f', '{{.State.Health.Status}}', name])) === 'healthy' ? true : undefined,
      60_000,
    );

    // an engine socket that does not exist: the loop runs (the host name is given) but reaches no engine
    const bad = await start('unhealthy', [
      ...health,
      ...envArgs({ ...FAST, docker_socket: '/var/run/no-such-docker.sock', hostname: 'e2e' }),
    ]);
    await waitFor(
      'unhealthy',
      async () =>
        (await docker(['inspect', '-f', '{{.State.Health.Status}}', bad.name])) === 'unhealthy' ? true : undefined,
      60_000,
    );
    const log = await docker(['inspect', '-f', '{{range .State.Health.Log}}{{.Output}}{{end}}', bad.name]);
    assert.match(log, /unhealthy: .*engine/);
  });

  it('docker stop with PLANCTON_ON_STOP=remove removes every pilot, then exits 0', async () => {
    const { name, instance } = await start('remove', [
      ...envArgs({ ...FAST, max_docks: 2, docker_cmd: 'sleep 604' }),
      '-e',
      'PLANCTON_ON_STOP=remove',
    ]);
    await pilotsUp(instance, 2);
    const t0 = Date.now();
    await docker(['stop', '-t', '60', name]);
    const elapsed = Date.now() - t0;
    assert.equal((await dockerInspect(name))?.State.ExitCode, 0);
    assert.ok(elapsed < 30_000, `stopped in ${elapsed} ms`);
    assert.deepEqual(await allPilots(instance), [], 'every pilot removed');
  });

  it('docker stop with PLANCTON_ON_STOP=drain waits for the pilots to end, then exits 0', async () => {
    const { name, instance } = await start('drain', [
      ...envArgs({ ...FAST, max_docks: 2, docker_cmd: 'sleep 8' }),
      '-e',
      'PLANCTON_ON_STOP=drain',
    ]);
    await pilotsUp(instance, 2);
    const t0 = Date.now();
    await docker(['stop', '-t', '60', name]);
    const elapsed = Date.now() - t0;
    const self = await dockerInspect(name);
    assert.equal(self?.State.ExitCode, 0);
    assert.ok(
      elapsed > 1_000 && elapsed < 55_000,
      `stopped in ${elapsed} ms, after the pilots ended and before docker's SIGKILL`,
    );
    assert.deepEqual(await runningPilots(instance), [], 'no pilot left running');
  });
});
