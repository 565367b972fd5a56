import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig } from '../../src/config/load.ts';
import type { HostSample } from '../../src/core/types.ts';
import { Daemon } from '../../src/daemon/daemon.ts';
import { RunDir } from '../../src/daemon/run-dir.ts';
import { createLogger } from '../../src/report/logger.ts';
import { FakeEngine } from '../support/fake-engine.ts';
import { waitFor } from '../support/docker.ts';

const host: HostSample = {
  at: 0, ncpus: 4, cpu: { busyPct: 0, perCpuBusyPct: [0, 0, 0, 0], intervalSec: 1 },
  memory: { totalBytes: 8e9, availableBytes: 8e9, swapTotalBytes: 0, swapFreeBytes: 0 },
};

function daemonWith(engine: FakeEngine, env: Record<string, string> = {}, sampler: { sample(now: number): Promise<HostSample> } = { sample: () => Promise.resolve(host) }) {
  const config = () => loadConfig({ env: { PLANCTON_MAIN_SLEEP: '0.05', PLANCTON_MAX_DOCKS: '2', PLANCTON_INSTANCE_ID: 'unit', PLANCTON_PULL_RETRY: '0.2', ...env }, args: [] });
  const log = new PassThrough();
  let text = '';
  log.on('data', (c: Buffer) => (text += c.toString()));
  const runDir = new RunDir(mkdtempSync(join(tmpdir(), 'plancton-unit-')));
  const d = new Daemon({
    engine,
    sampler,
    runDir,
    logger: createLogger({ level: 'debug', stream: log, json: true }),
    identity: { instance: 'unit', hostname: 'h', version: 't' },
    reload: () => Promise.resolve(config()),
    apparmor: false,
    minIntervalMs: 0,
  }, config());
  return { d, runDir, log: () => text, done: d.run() };
}

describe('daemon shell with an in-memory engine', () => {
  let running: { d: Daemon; done: Promise<unknown> } | undefined;
  afterEach(async () => {
    running?.d.stop();
    await running?.done;
  });

  it('pulls a missing image, then starts pilots from it', async () => {
    const engine = new FakeEngine();
    engine.registry.add('busybox');
    running = daemonWith(engine);
    await waitFor('2 pilots', () => (engine.pilots.size === 2 ? true : undefined), 5000);
    assert.equal(engine.calls.filter((c) => c === 'pull busybox').length, 1);
    assert.ok(engine.calls.indexOf('pull busybox') < engine.calls.indexOf('start'));
  });

  it('a failed pull of a missing image starts nothing and is retried after pull_retry', async () => {
    const engine = new FakeEngine();
    running = daemonWith(engine);
    await waitFor('two pull attempts', () => (engine.calls.filter((c) => c.startsWith('pull')).length >= 2 ? true : undefined), 5000);
    assert.equal(engine.pilots.size, 0);
    assert.ok(!engine.calls.includes('start'));
    const iterations = engine.calls.filter((c) => c === 'list').length;
    assert.ok(iterations > engine.calls.filter((c) => c.startsWith('pull')).length, 'not a pull on every iteration');
    engine.registry.add('busybox');
    await waitFor('2 pilots once the registry has it', () => (engine.pilots.size === 2 ? true : undefined), 5000);
  });

  it('an image found at start is not pulled again before image_expiration', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    running = daemonWith(engine);
    await waitFor('2 pilots', () => (engine.pilots.size === 2 ? true : undefined), 5000);
    assert.ok(!engine.calls.some((c) => c.startsWith('pull')));
  });

  it('fills at once although each reading after a batch is mostly the engine starting it, and never pauses its own pilots', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    engine.startDelayMs = 40;
    // the host: the owner at 10% of 2 CPUs, and 90% busy over any interval in which pilots were started
    let last = Date.now();
    let startsSeen = 0;
    const sampler = {
      sample: (now: number): Promise<HostSample> => {
        const starts = engine.calls.filter((c) => c === 'start').length;
        const busyPct = starts > startsSeen ? 90 : 10;
        const intervalSec = Math.max(0.001, (now - last) / 1000);
        [last, startsSeen] = [now, starts];
        return Promise.resolve({ ...host, at: now, ncpus: 2, cpu: { busyPct, perCpuBusyPct: [busyPct, busyPct], intervalSec } });
      },
    };
    // 20 pilots of 0.05 CPU, 4 per pass, main_sleep 30 s: a pass that waited main_sleep would show
    const r = daemonWith(engine, { PLANCTON_MAIN_SLEEP: '30', PLANCTON_MAX_DOCKS: '20', PLANCTON_CPUS_PER_DOCK: '0.05', PLANCTON_DOCKS_PER_LOOP: '4', PLANCTON_CGROUP_PARENT: '' }, sampler);
    running = r;
    await waitFor('20 pilots', () => (engine.pilots.size === 20 ? true : undefined), 10_000);
    assert.ok(!engine.calls.includes('pause'), 'no pilot paused');
    const iterations = r.log().split('\n').filter((l) => l.includes('"message":"iteration"')).map((l) => JSON.parse(l) as { started: number; ownerDisturbed?: boolean; cpuBusyPct: number });
    assert.deepEqual(iterations.slice(0, 5).map((i) => i.started), [4, 4, 4, 4, 4]);
    assert.deepEqual(iterations.slice(0, 5).map((i) => i.ownerDisturbed), [false, true, true, true, true]);
    assert.deepEqual(iterations.slice(1, 5).map((i) => i.cpuBusyPct), [90, 90, 90, 90]);
  });

  it('reports waiting while the engine is unreachable, and carries on when it returns', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    engine.down = true;
    const r = daemonWith(engine);
    running = r;
    await waitFor('waiting logged', () => (r.log().includes('engine unreachable, waiting') ? true : undefined), 5000);
    const st = (await r.runDir.readStatus()) as { state: string; engine: { reachable: boolean } };
    assert.equal(st.state, 'waiting');
    assert.equal(st.engine.reachable, false);
    engine.down = false;
    await waitFor('2 pilots after the engine returned', () => (engine.pilots.size === 2 ? true : undefined), 10_000);
    assert.match(r.log(), /engine reachable again/);
  });

  it('SIGTERM-like stop ends run() with reason signal and leaves pilots running', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    const r = daemonWith(engine);
    await waitFor('2 pilots', () => (engine.pilots.size === 2 ? true : undefined), 5000);
    r.d.stop();
    r.d.stop(); // idempotent
    assert.equal(await r.done, 'signal');
    assert.equal(engine.pilots.size, 2);
    assert.ok([...engine.pilots.values()].every((p) => p.state === 'running'));
  });
});
