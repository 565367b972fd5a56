import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { loadConfig } from '../../../src/config/load.ts';
import { pullAuthFor } from '../../../src/config/registry-auth-file.ts';
import type { Action } from '../../../src/core/decision.ts';
import { EngineError } from '../../../src/core/errors.ts';
import { execute, type ExecContext } from '../../../src/daemon/executor.ts';
import { createLogger } from '../../../src/report/logger.ts';
import { RemovalLog } from '../../../src/report/removals.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { FakeEngine } from '../../support/fake-engine.ts';

const config = loadConfig({ env: { PLANCTON_DOCKER_IMAGE: 'busybox' }, args: [] });

function context(
  engine: FakeEngine,
  over: Partial<Omit<ExecContext, 'clock'>> = {},
): ExecContext & { log: () => string; clock: FakeClock } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  const clock = new FakeClock();
  return {
    engine,
    logger: createLogger({ level: 'debug', stream, json: true }),
    removals: new RemovalLog(),
    identity: { instance: 'exec', hostname: 'h', version: 't' },
    apparmor: false,
    pullSource: (image) => pullAuthFor(image, config.settings),
    clock,
    random: Math.random,
    stopping: () => false,
    log: () => text,
    ...over,
  };
}

const start = (count: number, concurrency: number): Action => ({
  kind: 'start',
  count,
  concurrency,
  ttlMs: 3_600_000,
  stopTimeoutSec: 25,
  pool: 'default',
  vacate: { graceSec: 25, signal: 'SIGTERM', command: [] },
  shape: (config.pools[0] as (typeof config.pools)[number]).pilot,
  configHash: (config.pools[0] as (typeof config.pools)[number]).hash,
});

describe('executor: carries out resolved actions, reads no setting', () => {
  it('starts pilots with the deadline and stop timeout the action carries, at most `concurrency` at a time', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    engine.startDelayMs = 5;
    let inFlight = 0;
    let most = 0;
    const create = engine.createAndStart.bind(engine);
    engine.createAndStart = async (spec, opts) => {
      most = Math.max(most, ++inFlight);
      try {
        return await create(spec, opts);
      } finally {
        inFlight--;
      }
    };
    const ctx = context(engine);
    const outcome = await execute([start(5, 2)], [], ctx);
    assert.deepEqual(outcome, { started: 5, removed: 0, pulls: {} });
    assert.equal(most, 2);
    const env = [...engine.pilots.values()][0]?.spec.env ?? [];
    assert.ok(env.includes(`PLANCTON_DEADLINE=${Math.floor((ctx.clock.now() + 3_600_000) / 1000)}`), env.join(' '));
    assert.ok(env.includes('PLANCTON_STOP_TIMEOUT=25'));
  });

  it("vacates with the action's signal and grace, removes, and records the removal", async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    const ctx = context(engine);
    await execute([start(2, 2)], [], ctx);
    const pilots = await engine.listPilots('exec');
    const vacate = { graceSec: 3, signal: 'SIGINT', command: [] };
    const actions: Action[] = pilots.map((p) => ({
      kind: 'remove',
      id: p.id,
      name: p.name,
      reason: 'ttl',
      stopFirst: true,
      graceSec: 3,
      vacate,
    }));
    const outcome = await execute(actions, pilots, ctx);
    assert.equal(outcome.removed, 2);
    assert.equal(engine.calls.filter((c) => c === 'kill SIGINT').length, 2);
    assert.equal(engine.pilots.size, 0);
    assert.deepEqual(
      ctx.removals.latest(5).map((r) => [r.reason, r.killed, r.removedAt]),
      [
        ['ttl', true, ctx.clock.now()],
        ['ttl', true, ctx.clock.now()],
      ],
    );
  });

  it('a failed pull is logged and reported as not pulled; an unreachable engine aborts the rest', async () => {
    const engine = new FakeEngine();
    const ctx = context(engine);
    assert.deepEqual(await execute([{ kind: 'pull', image: 'busybox' }], [], ctx), {
      started: 0,
      removed: 0,
      pulls: { busybox: false },
    });
    assert.match(ctx.log(), /pull busybox: not found/);
    engine.down = true;
    await assert.rejects(execute([{ kind: 'pull', image: 'busybox' }, start(1, 1)], [], ctx), {
      name: 'EngineError',
      unreachable: true,
    });
    assert.ok(!engine.calls.includes('start'));
  });

  it('consecutive pauses run together (the owner waits for the last), inside one boost; failures are reported by pilot', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    const boosts: string[][] = [];
    let boosted = false;
    const pauseBoost = {
      async around<T>(ids: readonly string[], fn: () => Promise<T>): Promise<{ result: T; groups: readonly string[] }> {
        boosts.push([...ids]);
        boosted = true;
        try {
          return { result: await fn(), groups: ['/g'] };
        } finally {
          boosted = false;
        }
      },
    };
    const ctx = context(engine, { pauseBoost });
    await execute([start(5, 5)], [], ctx);
    const [a, b, c, d, e] = await engine.listPilots('exec');
    assert.ok(a && b && c && d && e);
    let inFlight = 0;
    let most = 0;
    const pause = engine.pause.bind(engine);
    engine.pause = async (id, opts) => {
      assert.ok(boosted, 'every pause runs inside the boost');
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      try {
        if (id === e.id) throw new EngineError('OCI runtime pause failed: unable to freeze', { statusCode: 500 });
        return await pause(id, opts);
      } finally {
        inFlight--;
      }
    };
    const io = (p: typeof a): Action => ({ kind: 'pause', id: p.id, name: p.name, for: 'io' });
    const cpu = (p: typeof a): Action => ({ kind: 'pause', id: p.id, name: p.name });
    await execute([io(a), io(b), io(c)], [a, b, c], ctx);
    assert.equal(most, 3);
    most = 0;
    const outcome = await execute([cpu(d), cpu(e)], [d, e], ctx);
    assert.equal(most, 2, "the CPU's pauses run together too");
    assert.deepEqual(outcome.paused, [d.id]);
    assert.deepEqual(outcome.pauseFailed, [e.id]);
    assert.deepEqual(boosts, [
      [a.id, b.id, c.id],
      [d.id, e.id],
    ]);
    assert.equal((await engine.listPilots('exec')).filter((p) => p.state === 'paused').length, 4);
    assert.equal(ctx.log().split('"event":"pilot-paused"').length - 1, 4, 'one event per pilot paused');
    assert.match(
      ctx.log(),
      /unable to freeze.*"event":"pilot-pause-failed"|"event":"pilot-pause-failed".*unable to freeze/,
    );
  });

  it('a stop asked for skips the actions after the one in flight; exit ends the list', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    let stopping = false;
    engine.registry.add('busybox');
    const pull = engine.pull.bind(engine);
    engine.pull = async (image, opts) => {
      await pull(image, opts);
      stopping = true;
    };
    const ctx = context(engine, { stopping: () => stopping });
    assert.deepEqual(await execute([{ kind: 'pull', image: 'busybox' }, start(1, 1)], [], ctx), {
      started: 0,
      removed: 0,
      pulls: { busybox: true },
    });
    assert.deepEqual(await execute([{ kind: 'exit', reason: 'drain-stop' }, start(1, 1)], [], context(engine)), {
      started: 0,
      removed: 0,
      pulls: {},
      exit: 'drain-stop',
    });
  });

  it('an abort gives up a hung pull at once and skips the rest', async () => {
    const engine = new FakeEngine();
    engine.registry.add('busybox');
    engine.images.add('busybox');
    engine.hangs.add('pull busybox');
    const abort = new AbortController();
    const ctx = context(engine, { signal: abort.signal });
    const done = execute([{ kind: 'pull', image: 'busybox' }, start(1, 1)], [], ctx);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(engine.calls, ['pull busybox']);
    abort.abort();
    await assert.rejects(done, { name: 'AbortError' });
    assert.ok(!engine.calls.includes('start'));
  });
});
