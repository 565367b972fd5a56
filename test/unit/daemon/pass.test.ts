import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig } from '../../../src/config/load.ts';
import { imageView } from '../../../src/core/decide-inputs.ts';
import { settle } from '../../../src/core/settle.ts';
import type { Controls, Decision, HostSample } from '../../../src/core/decision.ts';
import { Daemon } from '../../../src/daemon/daemon.ts';
import { LoopSignals } from '../../../src/daemon/loop-signals.ts';
import { PassRecorder } from '../../../src/daemon/recorder.ts';
import type { Observer } from '../../../src/daemon/observe.ts';
import { PassRunner } from '../../../src/daemon/pass.ts';
import { RunDir } from '../../../src/daemon/run-dir.ts';
import { HostObserver } from '../../../src/host/observer.ts';
import { createLogger } from '../../../src/report/logger.ts';
import { RemovalLog } from '../../../src/report/removals.ts';
import type { StatusReport } from '../../../src/report/status.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { FakeEngine } from '../../support/fake-engine.ts';
import { waitFor } from '../../support/docker.ts';
import { basePools } from '../../support/decide-fixtures.ts';

const env = {
  PLANCTON_MAIN_SLEEP: '30',
  PLANCTON_MAX_DOCKS: '2',
  PLANCTON_INSTANCE_ID: 'pass',
  PLANCTON_DOCKER_IMAGE: 'busybox',
  PLANCTON_CGROUP_PARENT: '',
};
const config = loadConfig({ env, args: [] });
const controls: Controls = { drain: false, drainStop: false, forceStop: false };
const host: HostSample = {
  at: 0,
  ncpus: 4,
  cpu: { busyPct: 0, perCpuBusyPct: [0, 0, 0, 0], intervalSec: 30 },
  memory: { totalBytes: 8e9, availableBytes: 8e9, swapTotalBytes: 0, swapFreeBytes: 0 },
};

function logger(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  return { logger: createLogger({ level: 'debug', stream, json: true }), text: () => text };
}

function runner(
  engine: FakeEngine,
  observer: Observer = {
    host: (now) => Promise.resolve({ host: { ...host, at: now }, selfBusyPct: 1 }),
    pilots: () => Promise.resolve(undefined),
  },
) {
  const clock = new FakeClock();
  const log = logger();
  const pass = new PassRunner({
    engine,
    observer,
    logger: log.logger,
    identity: { instance: 'pass', hostname: 'h', version: 't' },
    removals: new RemovalLog(),
    apparmor: false,
    clock,
    random: () => 0.5,
  });
  return { pass, clock, log: log.text };
}

describe('a pass: observe -> decide -> execute -> record', () => {
  it("records what it saw, decided and did; the image bookkeeping is the core's state", async () => {
    const engine = new FakeEngine();
    engine.registry.add('busybox');
    const { pass } = runner(engine);
    const first = await pass.run(config, controls, new LoopSignals());
    assert.deepEqual(
      first.decision?.actions.map((a) => a.kind),
      ['pull'],
    );
    assert.deepEqual(first.outcome, { started: 0, removed: 0, pulls: { busybox: true } });
    assert.equal(first.nextMs, 0, 'a pull is followed at once by the starts');
    assert.equal(first.reading?.selfBusyPct, 1);
    const second = await pass.run(config, controls, new LoopSignals());
    assert.deepEqual(
      second.decision?.actions.map((a) => a.kind),
      ['start'],
      'no second pull: the first one is remembered',
    );
    assert.equal(second.outcome?.started, 2);
    assert.equal(second.pilots.length, 2, 'the pilots as listed after the starts');
    assert.deepEqual(second.maxDocks, { value: 2, error: undefined });
    assert.equal(second.nextMs, 30_000);
    assert.equal(pass.policy?.memFloorBytes, 8e8, 'the resolved policy the memory watch decides by (10% of 8 GB)');
  });

  it('an unreachable engine: a waiting record with its error, the change once, the retry delay; then back', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    engine.down = true;
    const { pass } = runner(engine);
    const down = await pass.run(config, controls, new LoopSignals());
    assert.equal(down.status, 'waiting');
    assert.match(down.engineError ?? '', /ENOENT/);
    assert.deepEqual([down.engineChange?.to, down.nextMs, down.decision], ['down', 3000, undefined]);
    const still = await pass.run(config, controls, new LoopSignals());
    assert.deepEqual([still.engineChange, still.nextMs], [undefined, 6000]);
    engine.down = false;
    const up = await pass.run(config, controls, new LoopSignals());
    assert.deepEqual(up.engineChange, { to: 'up', failures: 2 });
    assert.equal(up.status, 'active');
  });

  it('pilots the kernel says are NOT idle get the kill-based rule, with or without an idle parent asked for', async () => {
    // cgroup_parent empty here: nothing was set up, so only the read-back can tell
    const engine = new FakeEngine();
    engine.registry.add('busybox');
    const priority = (enabled: boolean) => ({ enabled, detail: enabled ? 'cpu.idle=1 on /p' : 'NOT idle: /docker' });
    let read = priority(false);
    const { pass } = runner(engine, {
      host: (now) => Promise.resolve({ host: { ...host, at: now }, selfBusyPct: 1 }),
      pilots: () =>
        Promise.resolve({ perPilot: new Map(), memory: new Map(), totalPct: 0, priority: read, unlocated: 0 }),
    });
    assert.equal(config.settings.cpu_policy, 'owner');
    await pass.run(config, controls, new LoopSignals());
    assert.equal(pass.policy?.cpuPolicy, 'total', 'NOT idle: the owner rule cannot see a busy owner');
    read = priority(true);
    await pass.run(config, controls, new LoopSignals());
    assert.equal(pass.policy?.cpuPolicy, 'owner', 'idle again: the configured rule');
  });

  it('a host that cannot be read: a record with no reading and nothing done', async () => {
    const engine = new FakeEngine();
    const { pass, log } = runner(engine, {
      host: () => Promise.reject(new Error('EACCES /proc/stat')),
      pilots: () => Promise.resolve(undefined),
    });
    const rec = await pass.run(config, controls, new LoopSignals());
    assert.deepEqual([rec.reading, rec.decision, rec.pilots, rec.nextMs], [undefined, undefined, [], 30_000]);
    assert.deepEqual(engine.calls, []);
    assert.match(log(), /cannot sample the host: EACCES/);
  });

  it("the recorder makes the status and the reporters' input from the record alone", async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    const { pass, clock } = runner(engine, {
      host: (now) => Promise.resolve({ host: { ...host, at: now }, selfBusyPct: 0 }),
      pilots: (ids) =>
        Promise.resolve({
          perPilot: new Map(ids.map((id) => [id, 40])),
          memory: new Map(ids.map((id) => [id, 1e6])),
          totalPct: 20,
          unlocated: 0,
        }),
    });
    await pass.run(config, controls, new LoopSignals());
    const rec = await pass.run(config, controls, new LoopSignals());
    const runDir = new RunDir(mkdtempSync(join(tmpdir(), 'plancton-unit-pass-')));
    await runDir.ensure();
    const seen: StatusReport[] = [];
    const reporter = {
      iteration: (r: StatusReport) => void seen.push(r),
      removal: () => undefined,
      close: () => Promise.resolve(),
    };
    const recorder = new PassRecorder({
      runDir,
      logger: logger().logger,
      identity: { instance: 'pass', hostname: 'h', version: 't' },
      reporters: [reporter],
      removals: new RemovalLog(),
      clock,
      startedAt: 0,
      idle: { enabled: false, detail: 'off' },
    });
    await recorder.record(rec, { config, reloadError: undefined, iterations: 2 });
    const status = (await runDir.readStatus()) as StatusReport;
    assert.deepEqual(JSON.parse(JSON.stringify(seen)), [status], 'the reporters get what the status file says');
    assert.deepEqual(status.fit, JSON.parse(JSON.stringify(rec.decision?.fit)));
    assert.deepEqual(
      status.pilots.map((p) => [p.cpuPct, p.memBytes]),
      [
        [40, 1e6],
        [40, 1e6],
      ],
    );
    assert.deepEqual(
      [status.engine.reachable, status.config.maxDocks, status.iterations, status.updatedAt],
      [true, 2, 2, clock.now()],
    );
  });
});

describe('settle: what the core makes of a pass once carried out', () => {
  const decision = (over: Partial<Decision['fit']> = {}, actions: Decision['actions'] = []): Decision => ({
    state: {},
    actions,
    status: 'active',
    fit: { running: 0, fitting: 0, room: 0, toStart: 0, pilotSharePct: 0, overloaded: false, ...over },
  });
  const ctx = { pools: basePools, at: 5000, controls, pilotsLeft: 1, mainMs: 30_000 };

  it('an image present before any pull counts as pulled now; a failed pull keeps the last good one', () => {
    const view = imageView(undefined, 'busybox', true, 1000);
    assert.deepEqual(view.image, { name: 'busybox', present: true, lastPulledName: 'busybox', lastPullOkAt: 1000 });
    const state = { pools: { default: { image: view.book } } };
    const pulled = decision({}, [{ kind: 'pull', image: 'busybox' }]);
    assert.deepEqual(
      settle(state, pulled, { started: 0, removed: 0, pulls: { busybox: false } }, ctx).state.pools?.default?.image,
      {
        lastPulledName: 'busybox',
        lastPullOkAt: 1000,
        lastPullAttemptAt: 5000,
      },
    );
    assert.deepEqual(settle(state, pulled, { started: 0, removed: 0, pulls: { busybox: true } }, ctx), {
      state: {
        pools: { default: { image: { lastPulledName: 'busybox', lastPullOkAt: 5000, lastPullAttemptAt: 5000 } } },
      },
      nextMs: 0,
    });
  });

  it('comes back at once while filling or freeing memory, 2 s later after a disturbed reading, else after main_sleep', () => {
    const outcome = { started: 2, removed: 0, pulls: {} };
    assert.equal(settle({}, decision({ room: 5 }), outcome, ctx).nextMs, 0);
    assert.equal(settle({}, decision({ room: 2 }), outcome, ctx).nextMs, 30_000);
    assert.equal(
      settle({}, decision({ ownerDisturbed: true, blocked: 'no-idle-cpu' }), { started: 0, removed: 0, pulls: {} }, ctx)
        .nextMs,
      2000,
    );
    const vacate = { graceSec: 0, signal: 'SIGTERM', command: [] };
    const memory = decision({}, [
      { kind: 'remove', id: 'a', name: 'a', reason: 'memory', stopFirst: true, graceSec: 0, vacate },
    ]);
    assert.equal(settle({}, memory, { started: 0, removed: 1, pulls: {} }, ctx).nextMs, 0);
  });
});

describe('a second stop signal', () => {
  it(
    'gives up a hung pull at once and ends the loop, where the first one waits for it',
    { timeout: 20_000 },
    async () => {
      const engine = new FakeEngine();
      engine.registry.add('busybox');
      engine.hangs.add('pull busybox');
      const log = logger();
      const d = new Daemon(
        {
          engine,
          host: {
            observer: new HostObserver({
              sampler: { sample: (now) => Promise.resolve({ ...host, at: now }) },
              selfCpu: () => ({ user: 0, system: 0 }),
            }),
          },
          runDir: new RunDir(mkdtempSync(join(tmpdir(), 'plancton-unit-sigterm-'))),
          logger: log.logger,
          identity: { instance: 'pass', hostname: 'h', version: 't' },
          reload: { load: () => Promise.resolve(config) },
          apparmor: false,
          timing: { minIntervalMs: 0 },
        },
        loadConfig({ env: { ...env, PLANCTON_MAIN_SLEEP: '0.05' }, args: [] }),
      );
      let ended = false;
      const done = d.run().finally(() => (ended = true));
      await waitFor('the pull in flight', () => (engine.calls.includes('pull busybox') ? true : undefined), 5000);
      d.stop();
      await waitFor(
        'the first stop logged',
        () => (log.text().includes('finishing the action in flight') ? true : undefined),
        5000,
      );
      assert.equal(ended, false, 'the first stop waits for the action in flight');
      d.stop();
      assert.equal(await done, 'signal');
      assert.match(log.text(), /giving up the action in flight/);
      assert.equal(engine.calls.filter((c) => c.startsWith('pull')).length, 1);
    },
  );
});
