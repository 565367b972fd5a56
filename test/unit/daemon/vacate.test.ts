import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Vacate } from '../../../src/core/decision.ts';
import { vacate } from '../../../src/daemon/vacate.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { FakeEngine } from '../../support/fake-engine.ts';

/** An engine with one running pilot; returns its id. */
function withPilot(engine: FakeEngine, state: 'running' | 'paused' = 'running'): string {
  const id = 'p'.repeat(64);
  const spec = { labels: {} } as never;
  engine.pilots.set(id, {
    id,
    name: 'plancton-worker-pppppp',
    pilotId: 'pppppp',
    state,
    image: 'busybox',
    configHash: '',
    createdAt: 0,
    startedAt: 0,
    spec,
  });
  return id;
}

const how = (over: Partial<Vacate> = {}): Vacate => ({ graceSec: 10, signal: 'SIGTERM', command: [], ...over });
/** The engine calls of a vacate, without the bookkeeping ones. */
const steps = (engine: FakeEngine): string[] => engine.calls.filter((c) => c !== 'state' && c !== 'exec-running');

describe('vacate: stop command, signal, SIGKILL under one grace', () => {
  it("SIGTERM without a command is the engine's own stop with the whole grace", async () => {
    const engine = new FakeEngine();
    const id = withPilot(engine);
    await vacate(id, how(), { engine, clock: new FakeClock() });
    assert.deepEqual(steps(engine), ['stop']);
    assert.equal(engine.pilots.get(id)?.state, 'exited');
  });

  it('another signal is sent, and a pilot that goes on it gets no SIGKILL', async () => {
    const engine = new FakeEngine();
    const id = withPilot(engine);
    await vacate(id, how({ signal: 'SIGINT' }), { engine, clock: new FakeClock() });
    assert.deepEqual(steps(engine), ['kill SIGINT', 'wait']);
    assert.equal(engine.pilots.get(id)?.exitCode, 0);
  });

  it('a pilot that ignores the signal gets SIGKILL once the grace is over, not before', async () => {
    const engine = new FakeEngine();
    engine.exitsOn.clear();
    const id = withPilot(engine);
    const clock = new FakeClock();
    const t0 = clock.now();
    await vacate(id, how({ signal: 'SIGINT', graceSec: 7 }), { engine, clock });
    assert.deepEqual(steps(engine), ['kill SIGINT', 'wait', 'kill SIGKILL']);
    assert.equal(clock.now() - t0, 7000);
    assert.equal(engine.pilots.get(id)?.exitCode, 137);
  });

  it("the stop command runs first, and its time comes off the signal's grace", async () => {
    const engine = new FakeEngine();
    engine.exitsOn.clear();
    engine.execPolls = 3; // three looks at 200 ms: 600 ms of the 2 s
    const id = withPilot(engine);
    const clock = new FakeClock();
    await vacate(id, how({ graceSec: 2, command: ['condor_off', '-peaceful'] }), { engine, clock });
    assert.deepEqual(engine.execs, [{ id, cmd: ['condor_off', '-peaceful'] }]);
    assert.deepEqual(steps(engine), ['exec', 'kill SIGTERM', 'wait', 'kill SIGKILL']);
    assert.deepEqual(clock.slept, [200, 200, 200, 1400]);
  });

  it('a stop command that outlasts the grace leaves no time for the signal: SIGKILL at once', async () => {
    const engine = new FakeEngine();
    engine.execPolls = 1000;
    const id = withPilot(engine);
    const clock = new FakeClock();
    await vacate(id, how({ graceSec: 1, command: ['sleep', '60'] }), { engine, clock });
    assert.deepEqual(steps(engine), ['exec', 'kill SIGKILL']);
    assert.equal(
      clock.slept.reduce((a, b) => a + b, 0),
      1000,
    );
  });

  it('a paused pilot is thawed first; a stopped or missing one is left alone', async () => {
    const engine = new FakeEngine();
    const id = withPilot(engine, 'paused');
    await vacate(id, how(), { engine, clock: new FakeClock() });
    assert.deepEqual(steps(engine), ['unpause', 'stop']);
    engine.calls.length = 0;
    await vacate(id, how(), { engine, clock: new FakeClock() });
    await vacate('gone', how(), { engine, clock: new FakeClock() });
    assert.deepEqual(engine.calls, ['state', 'state']);
  });

  it('an abort during the grace gives up at once, without SIGKILL', async () => {
    const engine = new FakeEngine();
    engine.exitsOn.clear();
    engine.hangs.add('wait');
    const id = withPilot(engine);
    const abort = new AbortController();
    const clock = new FakeClock();
    // the clock never moves on its own: only the abort can end this vacate
    clock.sleep = (_ms, signal) =>
      new Promise((_resolve, reject) =>
        signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true }),
      );
    const done = vacate(id, how({ signal: 'SIGINT', graceSec: 3600 }), { engine, clock, signal: abort.signal });
    await new Promise((resolve) => setImmediate(resolve));
    abort.abort();
    await assert.rejects(done, { name: 'AbortError' });
    assert.ok(!engine.calls.includes('kill SIGKILL'));
  });
});
