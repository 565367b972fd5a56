import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';

import { EngineError } from '../../src/core/errors.ts';
import { DockerEngine } from '../../src/engine/docker-engine.ts';
import type { DockerEngineOptions } from '../../src/engine/docker-engine.ts';
import { LABELS, MANAGED_BY, pilotLabels } from '../../src/engine/labels.ts';
import type { PilotEvent, PilotSpec } from '../../src/engine/port.ts';
import {
  containersByLabel,
  docker,
  dockerInspect,
  randomInstance,
  removeByLabel,
  requireEngine,
  TEST_RUN_LABEL,
  waitFor,
} from '../support/docker.ts';

const IMAGE = 'busybox:latest';
const MISSING_IMAGE = 'plancton-test/nonexistent:1';
const MiB = 1024 * 1024;

const skip = await requireEngine(IMAGE);
const instance = randomInstance();
const runLabel = `${TEST_RUN_LABEL}=${instance}`;

function pilotSpec(overrides: Partial<PilotSpec> = {}): PilotSpec {
  const pilotId = randomBytes(3).toString('hex');
  return {
    name: `plancton-${instance}-${pilotId}`,
    hostname: `pilot-${pilotId}`,
    image: IMAGE,
    cmd: ['sleep', '300'],
    user: '',
    labels: { ...pilotLabels(instance, pilotId, 'cfg-hash', '0.0.0-test'), [TEST_RUN_LABEL]: instance },
    env: ['PLANCTON_TEST=1'],
    cpuPeriod: 100_000,
    cpuQuota: 10_000,
    memoryBytes: 64 * MiB,
    memorySwapBytes: 128 * MiB,
    binds: [],
    devices: [],
    capAdd: [],
    capDrop: [],
    securityOpt: [],
    privileged: false,
    networkMode: '',
    pidsLimit: 0,
    ...overrides,
  };
}

/** Starts a container behind Plancton's back (`docker run`), always with the run label for clean-up. */
async function runForeign(name: string, labels: Record<string, string>): Promise<string> {
  const labelArgs = Object.entries({ ...labels, [TEST_RUN_LABEL]: instance }).flatMap(([k, v]) => [
    '--label',
    `${k}=${v}`,
  ]);
  return docker(['run', '-d', '--name', name, ...labelArgs, IMAGE, 'sleep', '300']);
}

describe('DockerEngine against the real engine', { skip, timeout: 120_000 }, () => {
  const engine = new DockerEngine();
  const testStart = Date.now();
  const first = pilotSpec({
    user: '1000:1000',
    pidsLimit: 256,
    binds: ['/tmp:/plancton-tmp:ro'],
    devices: [{ pathOnHost: '/dev/null', pathInContainer: '/dev/plancton-null', cgroupPermissions: 'rwm' }],
    capAdd: ['SYS_PTRACE'],
    capDrop: ['NET_RAW'],
    securityOpt: ['no-new-privileges'],
  });
  const second = pilotSpec({ networkMode: 'none' });
  let firstId = '';
  let secondId = '';

  before(() => engine.ping());
  after(() => removeByLabel(runLabel));

  it('creates and starts pilots with the whole spec applied', async () => {
    firstId = await engine.createAndStart(first);
    secondId = await engine.createAndStart(second);
    assert.match(firstId, /^[0-9a-f]{64}$/);

    const a = await dockerInspect(firstId);
    assert.ok(a);
    assert.equal(a.Name, `/${first.name}`);
    assert.equal(a.State.Status, 'running');
    assert.equal(a.Config.Hostname, first.hostname);
    assert.equal(a.Config.User, '1000:1000');
    assert.equal(a.Config.Image, IMAGE);
    assert.deepEqual(a.Config.Cmd, ['sleep', '300']);
    assert.ok(a.Config.Env?.includes('PLANCTON_TEST=1'));
    for (const [key, value] of Object.entries(first.labels)) assert.equal(a.Config.Labels?.[key], value, key);
    assert.equal(a.HostConfig.CpuPeriod, 100_000);
    assert.equal(a.HostConfig.CpuQuota, 10_000);
    assert.equal(a.HostConfig.Memory, 64 * MiB);
    assert.equal(a.HostConfig.MemorySwap, 128 * MiB);
    assert.deepEqual(a.HostConfig.Binds, ['/tmp:/plancton-tmp:ro']);
    assert.deepEqual(a.HostConfig.Devices, [
      { PathOnHost: '/dev/null', PathInContainer: '/dev/plancton-null', CgroupPermissions: 'rwm' },
    ]);
    assert.deepEqual(a.HostConfig.CapAdd, ['SYS_PTRACE']);
    assert.deepEqual(a.HostConfig.CapDrop, ['NET_RAW']);
    assert.deepEqual(a.HostConfig.SecurityOpt, ['no-new-privileges']);
    assert.equal(a.HostConfig.Privileged, false);
    assert.equal(a.HostConfig.NetworkMode, 'default');
    assert.equal(a.HostConfig.PidsLimit, 256);

    const b = await dockerInspect(secondId);
    assert.ok(b);
    assert.equal(b.Name, `/${second.name}`);
    assert.equal(b.Config.User, '', 'an empty user leaves the image default');
    assert.equal(b.HostConfig.NetworkMode, 'none');
    assert.ok(!b.HostConfig.PidsLimit, 'pidsLimit 0 sets no limit');
    assert.equal(b.State.Status, 'running');
  });

  it('lists exactly its own pilots, never a look-alike, another instance or itself', async () => {
    const lookAlike = await runForeign(`plancton-worker-xyz-${instance}`, {});
    const otherInstance = `${instance}-other`;
    const other = await runForeign(`${otherInstance}-pilot`, {
      [LABELS.managedBy]: MANAGED_BY,
      [LABELS.instance]: otherInstance,
    });
    const self = await runForeign(`${instance}-self`, {
      [LABELS.managedBy]: MANAGED_BY,
      [LABELS.instance]: instance,
      [LABELS.self]: 'true',
    });

    const pilots = await engine.listPilots(instance);
    assert.deepEqual(pilots.map((p) => p.id).sort(), [firstId, secondId].sort());
    for (const id of [lookAlike, other, self]) assert.ok(!pilots.some((p) => p.id === id));

    const byId = new Map(pilots.map((p) => [p.id, p]));
    for (const [spec, id] of [
      [first, firstId],
      [second, secondId],
    ] as const) {
      const pilot = byId.get(id);
      assert.ok(pilot);
      assert.equal(pilot.name, spec.name);
      assert.equal(pilot.pilotId, spec.labels[LABELS.pilotId]);
      assert.equal(pilot.configHash, 'cfg-hash');
      assert.equal(pilot.image, IMAGE);
      assert.equal(pilot.state, 'running');
      // Created is whole seconds.
      assert.ok(
        pilot.createdAt >= Math.floor(testStart / 1000) * 1000 && pilot.createdAt <= Date.now(),
        `createdAt ${pilot.createdAt}`,
      );
      const inspected = await dockerInspect(id);
      assert.equal(pilot.startedAt, Date.parse(inspected?.State.StartedAt ?? ''));
      assert.ok(pilot.startedAt !== undefined && pilot.startedAt >= pilot.createdAt);
    }

    assert.deepEqual(
      (await engine.listPilots(otherInstance)).map((p) => p.id),
      [other],
    );
    assert.deepEqual(await engine.listPilots(randomInstance()), []);
  });

  it('sees a pilot whose image carries the self label (the role label set at creation wins), and adopts a pilot of an older Plancton', async () => {
    const image = `plancton-test-self-label:${instance}`;
    await execa('docker', ['build', '-q', '-t', image, '--label', `${TEST_RUN_LABEL}=${instance}`, '-'], {
      input: `FROM ${IMAGE}\nLABEL ${LABELS.self}="true"\n`,
    });
    const spec = pilotSpec({ image });
    const id = await engine.createAndStart(spec);
    const legacy = await runForeign(`${instance}-legacy`, {
      [LABELS.managedBy]: MANAGED_BY,
      [LABELS.instance]: instance,
      [LABELS.pilotId]: 'legacy',
    });
    try {
      assert.equal(
        (await dockerInspect(id))?.Config.Labels?.[LABELS.self],
        'true',
        "the container inherited the image's label",
      );
      const seen = (await engine.listPilots(instance)).map((p) => p.id);
      assert.ok(seen.includes(id), "a pilot is never invisible because of its image's labels");
      assert.ok(seen.includes(legacy), 'a pilot without the role label (created before it existed) is still adopted');
    } finally {
      await execa('docker', ['rm', '-f', id, legacy], { reject: false });
      await execa('docker', ['rmi', image], { reject: false });
    }
  });

  it('refuses to remove a running pilot: the caller stops first', async () => {
    await assert.rejects(
      engine.remove(secondId),
      (err: unknown) => err instanceof EngineError && err.statusCode === 409,
    );
    assert.equal((await dockerInspect(secondId))?.State.Status, 'running');
  });

  it('stops idempotently and reports how the pilot ended', async () => {
    await engine.stop(firstId, 1);
    await engine.stop(firstId, 1);
    await engine.stop('0'.repeat(64), 1);
    assert.equal((await dockerInspect(firstId))?.State.Status, 'exited');

    const exit = await engine.inspectExit(firstId);
    assert.ok(exit);
    // `sleep` as PID 1 ignores SIGTERM, so the engine kills it: 137; 143 if it ever honours TERM.
    assert.ok(exit.exitCode === 137 || exit.exitCode === 143, `exit code ${exit.exitCode}`);
    assert.equal(exit.oomKilled, false);
    assert.ok(exit.startedAt !== undefined && exit.finishedAt !== undefined);
    assert.ok(exit.finishedAt >= exit.startedAt);

    const listed = (await engine.listPilots(instance)).find((p) => p.id === firstId);
    assert.equal(listed?.state, 'exited');
  });

  it('removes idempotently', async () => {
    await engine.remove(firstId);
    await engine.remove(firstId);
    assert.equal(await dockerInspect(firstId), undefined);
    assert.equal(await engine.inspectExit(firstId), undefined);

    await engine.stop(secondId, 1);
    await engine.remove(secondId);
    assert.deepEqual(await engine.listPilots(instance), []);
  });

  it('reports a never-started container with no exit code and no times', async () => {
    const id = await docker(['create', '--label', runLabel, IMAGE, 'sleep', '300']);
    assert.deepEqual(await engine.inspectExit(id), {
      exitCode: undefined,
      oomKilled: false,
      startedAt: undefined,
      finishedAt: undefined,
    });
  });

  it('leaves no container behind when the start fails', async () => {
    const spec = pilotSpec({ cmd: ['/nonexistent'] });
    await assert.rejects(engine.createAndStart(spec), (err: unknown) => {
      assert.ok(err instanceof EngineError);
      assert.equal(typeof err.statusCode, 'number');
      assert.equal(err.unreachable, false);
      assert.match(err.message, new RegExp(`start pilot ${spec.name}`));
      return true;
    });
    assert.deepEqual(await containersByLabel(`${LABELS.pilotId}=${spec.labels[LABELS.pilotId]}`), []);
    assert.equal(await dockerInspect(spec.name), undefined);
  });

  it('fails to create a pilot of a missing image with a 404', async () => {
    const spec = pilotSpec({ image: MISSING_IMAGE });
    await assert.rejects(
      engine.createAndStart(spec),
      (err: unknown) => err instanceof EngineError && err.statusCode === 404,
    );
    assert.deepEqual(await containersByLabel(`${LABELS.pilotId}=${spec.labels[LABELS.pilotId]}`), []);
  });

  it('tells present images from missing ones', async () => {
    assert.equal(await engine.imagePresent('busybox'), true);
    assert.equal(await engine.imagePresent(IMAGE), true);
    assert.equal(await engine.imagePresent(MISSING_IMAGE), false);
  });

  it('fails a pull it cannot complete with an EngineError', async (t) => {
    const started = Date.now();
    await assert.rejects(engine.pull(MISSING_IMAGE), (err: unknown) => {
      assert.ok(err instanceof EngineError);
      assert.match(err.message, /pull image plancton-test\/nonexistent:1/);
      return true;
    });
    t.diagnostic(`pull of ${MISSING_IMAGE} failed after ${Date.now() - started} ms`);
  });

  it('watches start and die of its pilots only, until aborted', async () => {
    const events: PilotEvent[] = [];
    const controller = new AbortController();
    // A pilot of ours to poke until the stream is live: watch() gives no "opened" signal.
    const probe = await runForeign(`${instance}-probe`, {
      [LABELS.managedBy]: MANAGED_BY,
      [LABELS.instance]: instance,
    });
    const watching = engine.watch(instance, (e) => events.push(e), controller.signal);
    await waitFor('the event stream to deliver a probe event', async () => {
      await docker(['exec', probe, 'true']);
      return events.find((e) => e.id === probe);
    });
    const probeEvent = events.find((e) => e.id === probe);
    assert.match(probeEvent?.action ?? '', /^exec_/);

    const foreign = await runForeign(`${instance}-foreign-watch`, {
      [LABELS.managedBy]: MANAGED_BY,
      [LABELS.instance]: `${instance}-other`,
    });
    const before = Date.now();
    const id = await engine.createAndStart(pilotSpec());
    await waitFor('a start event', () => events.find((e) => e.id === id && e.action === 'start'));
    await engine.stop(id, 1);
    const die = await waitFor('a die event', () => events.find((e) => e.id === id && e.action === 'die'));
    assert.ok(die.at >= before - 1000 && die.at <= Date.now() + 1000, `event time ${die.at}`);

    controller.abort();
    await watching;
    assert.ok(!events.some((e) => e.id === foreign), 'no event of another instance');
    const count = events.length;
    await engine.remove(id);
    assert.equal(events.length, count, 'no event after the abort');
  });
});

/** An HTTP server standing in for the engine, for what the real one cannot be made to do; on a unix socket unless `tcp`. */
async function fakeEngine(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  tcp = false,
): Promise<{ options: DockerEngineOptions; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'plancton-fake-engine-'));
  const socketPath = join(dir, 'docker.sock');
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) =>
    tcp ? server.listen(0, '127.0.0.1', resolve) : server.listen(socketPath, resolve),
  );
  const address = server.address();
  const options: DockerEngineOptions =
    tcp && typeof address === 'object' && address !== null
      ? { host: `tcp://127.0.0.1:${address.port}` }
      : { socketPath };
  return {
    options,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The engines docs/engines.md lists (as test/integration/engine-matrix.test.ts reaches them). */
const ENGINES = [
  { name: 'Docker 20.10 (host engine)', socket: '/var/run/docker.sock' },
  { name: 'Docker 26', socket: process.env.PLANCTON_DOCKER26_SOCKET ?? '/run/plancton-docker26/docker.sock' },
  { name: 'Podman 4.3', socket: process.env.PLANCTON_PODMAN_SOCKET ?? '/run/plancton-podman/podman.sock' },
];

for (const e of ENGINES) {
  /** The docker CLI on this engine; rejects with stderr. */
  const dk = async (args: readonly string[], input?: string): Promise<string> => {
    const r = await execa('docker', ['--host', `unix://${e.socket}`, ...args], {
      reject: false,
      timeout: 120_000,
      ...(input === undefined ? {} : { input }),
    });
    if (r.exitCode !== 0) throw new Error(`docker ${args.join(' ')} on ${e.name}: ${String(r.stderr)}`);
    return String(r.stdout).trim();
  };
  const answers = await dk(['version', '--format', '{{.Server.Version}}']).then(
    () => true,
    () => false,
  );
  if (!answers && process.env.PLANCTON_REQUIRE_ENGINE === '1')
    throw new Error(`PLANCTON_REQUIRE_ENGINE=1 but ${e.name} does not answer on ${e.socket}`);
  describe(
    `DockerEngine on ${e.name}: a pilot never passes for a Compose project's container`,
    {
      skip: answers ? false : `${e.name} does not answer on ${e.socket}`,
      timeout: 120_000,
    },
    () => {
      const project = `plancton-cl-${randomBytes(3).toString('hex')}`;
      const image = `${project}:labelled`;
      const engine = new DockerEngine({ socketPath: e.socket });
      after(async () => {
        const ids = await dk(['ps', '-aq', '--filter', `label=${runLabel}`]).catch(() => '');
        if (ids) await dk(['rm', '-f', ...ids.split('\n')]).catch(() => '');
        await dk(['rmi', image]).catch(() => '');
      });

      it("empties the Compose labels the pilot's image carries and adds none, keeps its own labels, and still lists it", async () => {
        // the labels `docker compose build` gives an image, and those a committed Compose container leaves
        const composeLabels = {
          'com.docker.compose.project': project,
          'com.docker.compose.service': 'cm',
          'com.docker.compose.version': '2.26.1',
          'com.docker.compose.config-hash': 'f00',
          'com.docker.compose.oneoff': 'False',
          'com.docker.compose.container-number': '1',
        };
        const labelLines = Object.entries(composeLabels).map(([k, v]) => `LABEL ${k}="${v}"`);
        await dk(
          ['build', '-q', '-t', image, '-'],
          [`FROM ${IMAGE}`, ...labelLines, 'LABEL other="kept"', ''].join('\n'),
        );
        const spec = pilotSpec({ image });
        const id = await engine.createAndStart(spec);
        const [info] = JSON.parse(await dk(['container', 'inspect', id])) as [
          { Config: { Labels: Record<string, string> } },
        ];
        const labels = info.Config.Labels;
        for (const key of Object.keys(composeLabels)) assert.equal(labels[key], '', `${key} emptied`);
        assert.equal(labels.other, 'kept', "the image's other labels are inherited as ever");
        for (const [k, v] of Object.entries(spec.labels)) assert.equal(labels[k], v);
        assert.equal(await dk(['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`]), '');
        assert.ok(
          (await engine.listPilots(instance)).some((p) => p.id === id),
          'the pilot is still listed as ours',
        );
        // an image without Compose labels gives a pilot without any
        const plain = await engine.createAndStart(pilotSpec());
        const plainLabels = JSON.parse(
          await dk(['container', 'inspect', '-f', '{{json .Config.Labels}}', plain]),
        ) as Record<string, string>;
        assert.deepEqual(
          Object.keys(plainLabels).filter((k) => k.startsWith('com.docker.compose.')),
          [],
        );
      });
    },
  );
  describe(
    `DockerEngine on ${e.name}: a pilot's times inspected once while the event stream is open`,
    { skip: answers ? false : `${e.name} does not answer on ${e.socket}`, timeout: 120_000 },
    () => {
      let proxy: CountingProxy | undefined;
      after(async () => {
        await proxy?.close();
        const ids = await dk(['ps', '-aq', '--filter', `label=${runLabel}`]).catch(() => '');
        if (ids) await dk(['rm', '-f', ...ids.split('\n')]).catch(() => '');
      });

      it('lists without inspecting again; a restart, an end and a closed stream each bring a new inspection', async () => {
        proxy = await countingProxy(e.socket);
        const engine = new DockerEngine({ socketPath: proxy.socket });
        const own = `${instance}-${randomBytes(2).toString('hex')}`;
        const spec = pilotSpec();
        const id = await engine.createAndStart({
          ...spec,
          labels: { ...pilotLabels(own, 'p1', 'cfg-hash', '0.0.0-test'), [TEST_RUN_LABEL]: instance },
        });
        const inspects = proxy.counter(new RegExp(`^GET /[^ ]*containers/${id}/json`));
        const list = async (): Promise<{ startedAt?: number; finishedAt?: number; exitCode?: number; n: number }> => {
          const before = inspects();
          const [p] = (await engine.listPilots(own)).filter((x) => x.id === id);
          assert.ok(p, 'the pilot is listed');
          return { startedAt: p.startedAt, finishedAt: p.finishedAt, exitCode: p.exitCode, n: inspects() - before };
        };
        // no stream: every list inspects
        assert.equal((await list()).n, 1);
        assert.equal((await list()).n, 1);

        const events: PilotEvent[] = [];
        const controller = new AbortController();
        const watching = engine.watch(own, (ev) => events.push(ev), controller.signal);
        await waitFor('the event stream to deliver an exec event', async () => {
          await dk(['exec', id, 'true']);
          return events.find((ev) => ev.id === id);
        });
        const first = await list();
        assert.equal(first.n, 1, 'the first list with the stream open inspects');
        const again = await list();
        assert.equal(again.n, 0, 'the next one does not');
        assert.equal(again.startedAt, first.startedAt);

        await new Promise((r) => setTimeout(r, 1100));
        const starts = events.filter((ev) => ev.action === 'start').length;
        await dk(['restart', '-t', '0', id]);
        await waitFor("the restart's start event", () =>
          events.filter((ev) => ev.action === 'start').length > starts ? true : undefined,
        );
        const restarted = await list();
        assert.equal(restarted.n, 1, 'a start event forgets the times');
        assert.ok(
          (restarted.startedAt ?? 0) > (first.startedAt ?? 0),
          `started again: ${restarted.startedAt} after ${first.startedAt}`,
        );
        assert.equal((await list()).n, 0);

        await dk(['kill', id]);
        const ended = await waitFor('the pilot listed as ended', async () => {
          const l = await list();
          return l.exitCode !== undefined ? l : undefined;
        });
        assert.ok(ended.finishedAt !== undefined && ended.finishedAt >= (restarted.startedAt ?? 0));
        assert.equal((await list()).n, 0, 'an ended pilot is inspected once');

        controller.abort();
        await watching;
        assert.equal((await list()).n, 1, 'with the stream closed, every list inspects again');
      });
    },
  );
}

/** A unix socket in front of an engine's, passing every byte on and counting the requests it sees. */
interface CountingProxy {
  readonly socket: string;
  /** How many requests so far had a request line matching `re` (a function to call for the count). */
  counter(re: RegExp): () => number;
  close(): Promise<void>;
}

async function countingProxy(target: string): Promise<CountingProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'plancton-proxy-'));
  const socket = join(dir, 'engine.sock');
  const lines: string[] = [];
  const open = new Set<{ destroy(): void }>();
  const server = createNetServer((client) => {
    const upstream = connect(target);
    open.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      for (const m of chunk.toString('latin1').matchAll(/^(GET|POST|DELETE|PUT|HEAD) [^\r\n]*/gm)) lines.push(m[0]);
    });
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    counter: (re) => () => lines.filter((l) => re.test(l)).length,
    close: async () => {
      for (const c of open) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const isUnreachable = (err: unknown): boolean =>
  err instanceof EngineError && err.unreachable && err.statusCode === undefined;

describe('DockerEngine against a missing, hung or fake engine', { timeout: 30_000 }, () => {
  it('is unreachable when the socket does not exist', async () => {
    const engine = new DockerEngine({ socketPath: '/nonexistent/docker.sock' });
    await assert.rejects(engine.ping(), isUnreachable);
    await assert.rejects(engine.listPilots('x'), isUnreachable);
    await assert.rejects(
      engine.watch('x', () => {}, new AbortController().signal),
      isUnreachable,
    );
  });

  it('gives up on an engine that never answers, after the time-out', async () => {
    const fake = await fakeEngine(() => {});
    try {
      const engine = new DockerEngine({ ...fake.options, timeoutMs: 200 });
      await assert.rejects(engine.ping(), isUnreachable);
      await assert.rejects(
        engine.watch('x', () => {}, new AbortController().signal),
        isUnreachable,
      );
    } finally {
      await fake.close();
    }
  });

  it('resolves a watch at once when the signal is already aborted', async () => {
    const engine = new DockerEngine({ socketPath: '/nonexistent/docker.sock' });
    await engine.watch('x', () => assert.fail('no event expected'), AbortSignal.abort());
  });

  it('reads events split across chunks, skips junk and foreign events, resolves when the stream ends', async () => {
    const owned = { [LABELS.managedBy]: MANAGED_BY, [LABELS.instance]: 'i1', name: 'p1' };
    const lines = [
      { Type: 'container', Action: 'start', Actor: { ID: 'c1', Attributes: owned }, time: 1_700_000_000, timeNano: 0 },
      {
        Type: 'container',
        Action: 'start',
        Actor: { ID: 'c2', Attributes: { ...owned, [LABELS.instance]: 'i2' } },
        time: 1_700_000_001,
      },
      {
        Type: 'container',
        Action: 'exec_start: sh -c true',
        Actor: { ID: 'c1', Attributes: owned },
        time: 1_700_000_002,
      },
    ].map((l) => JSON.stringify(l));
    // Nanoseconds since the epoch exceed a double's exact range, as in the engine's real output.
    lines[0] = (lines[0] ?? '').replace('"timeNano":0', '"timeNano":1700000000123456789');
    const body = `${lines[0]}\n\nnot json\n${lines[1]}\r\n${lines[2]}\n`;
    const fake = await fakeEngine((req, res) => {
      assert.match(req.url ?? '', /^\/events\?filters=/);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      // Splits inside lines and inside a multi-byte character would both break a naive reader.
      const bytes = Buffer.from(body.replace('"p1"', '"p1é"'));
      let at = 0;
      const next = (): void => {
        if (at >= bytes.length) return void res.end();
        res.write(bytes.subarray(at, at + 7));
        at += 7;
        setImmediate(next);
      };
      next();
    });
    try {
      const events: PilotEvent[] = [];
      await new DockerEngine(fake.options).watch('i1', (e) => events.push(e), new AbortController().signal);
      assert.deepEqual(events, [
        { action: 'start', id: 'c1', at: 1_700_000_000_123 },
        { action: 'exec_start: sh -c true', id: 'c1', at: 1_700_000_002_000 },
      ]);
    } finally {
      await fake.close();
    }
  });

  it('rejects a pull whose progress stream carries an error', async () => {
    const fake = await fakeEngine((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"status":"Pulling from pilots/htcondor","id":"1.0"}\n{"status":"Downloa');
      setImmediate(() =>
        res.end('ding"}\n{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}\n'),
      );
    });
    try {
      const engine = new DockerEngine(fake.options);
      await assert.rejects(engine.pull('pilots/htcondor:1.0'), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.match(err.message, /pull image pilots\/htcondor:1\.0 failed: manifest unknown/);
        return true;
      });
    } finally {
      await fake.close();
    }
  });
  it('reaches an engine given as a tcp:// host', async () => {
    const fake = await fakeEngine((req, res) => {
      assert.equal(req.url, '/_ping');
      res.end('OK');
    }, true);
    try {
      await new DockerEngine(fake.options).ping();
    } finally {
      await fake.close();
    }
  });

  it('rejects a watch whose stream breaks, and hands back an error thrown by onEvent', async () => {
    const event = JSON.stringify({
      Type: 'container',
      Action: 'die',
      Actor: { ID: 'c1', Attributes: { [LABELS.managedBy]: MANAGED_BY, [LABELS.instance]: 'i1' } },
      time: 1,
    });
    const fake = await fakeEngine((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(`${event}\n`);
      setTimeout(() => res.destroy(), 50);
    });
    try {
      const engine = new DockerEngine(fake.options);
      const seen: PilotEvent[] = [];
      await assert.rejects(
        engine.watch('i1', (e) => seen.push(e), new AbortController().signal),
        isUnreachable,
      );
      assert.equal(seen.length, 1);
      const bug = new Error('bug in the caller');
      await assert.rejects(
        engine.watch(
          'i1',
          () => {
            throw bug;
          },
          new AbortController().signal,
        ),
        bug,
      );
    } finally {
      await fake.close();
    }
  });
});
