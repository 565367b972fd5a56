/** A pass with pools on the in-memory engine: each pool's image pulled and booked, its pilots made from its own shape and labelled. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { loadConfig } from '../../../src/config/load.ts';
import type { Controls, HostSample } from '../../../src/core/decision.ts';
import { LoopSignals } from '../../../src/daemon/loop-signals.ts';
import { PassRunner } from '../../../src/daemon/pass.ts';
import { createLogger } from '../../../src/report/logger.ts';
import { RemovalLog } from '../../../src/report/removals.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { FakeEngine } from '../../support/fake-engine.ts';

const controls: Controls = { drain: false, drainStop: false, forceStop: false };
const host: HostSample = {
  at: 0,
  ncpus: 10,
  cpu: { busyPct: 0, perCpuBusyPct: [], intervalSec: 30 },
  memory: { totalBytes: 8e9, availableBytes: 8e9, swapTotalBytes: 0, swapFreeBytes: 0 },
};
const text = `
instance_id: pools
cgroup_parent: ""
max_docks: 10
pools:
  - name: htcondor
    share: 70
    docker_image: busybox
    docker_cmd: [sleep, "600"]
    stop_signal: SIGQUIT
    stop_timeout: 30
  - name: workqueue
    share: 30
    docker_image: debian:bookworm-slim
    docker_cmd: [sleep, "60"]
    docker_env: [WORKQUEUE_MANAGER_HOST=wq]
`;
const config = loadConfig({ text, file: 'pools.yaml', env: {}, args: [] });

function runner(engine: FakeEngine): PassRunner {
  return new PassRunner({
    engine,
    observer: {
      host: (now) => Promise.resolve({ host: { ...host, at: now }, selfBusyPct: 0 }),
      pilots: () => Promise.resolve(undefined),
    },
    logger: createLogger({ level: 'error', stream: new PassThrough(), json: true }),
    identity: { instance: 'pools', hostname: 'h', version: 't' },
    removals: new RemovalLog(),
    apparmor: false,
    clock: new FakeClock(),
    random: () => 0.5,
  });
}

describe('a pass with two pools', () => {
  it("pulls each pool's image once, then starts 7 and 3 pilots, each from its own pool's shape and labelled with it", async () => {
    const engine = new FakeEngine();
    engine.registry.add('busybox');
    engine.registry.add('debian:bookworm-slim');
    const pass = runner(engine);
    const first = await pass.run(config, controls, new LoopSignals());
    assert.deepEqual(
      first.decision?.actions.map((a) => (a.kind === 'pull' ? a.image : a.kind)),
      ['busybox', 'debian:bookworm-slim'],
    );
    assert.deepEqual(first.outcome?.pulls, { busybox: true, 'debian:bookworm-slim': true });
    const second = await pass.run(config, controls, new LoopSignals());
    assert.ok(!second.decision?.actions.some((a) => a.kind === 'pull'), 'both pulls are booked');
    const specs = [...engine.pilots.values()].map((p) => p.spec);
    const of = (pool: string) => specs.filter((s) => s.labels['org.plancton.pool'] === pool);
    assert.deepEqual([of('htcondor').length, of('workqueue').length], [7, 3]);
    assert.deepEqual(
      of('workqueue').map((s) => [s.image, s.cmd, s.env.includes('WORKQUEUE_MANAGER_HOST=wq')]),
      Array(3).fill(['debian:bookworm-slim', ['sleep', '60'], true]),
    );
    assert.deepEqual(JSON.parse(of('htcondor')[0]?.labels['org.plancton.stop'] ?? 'null'), {
      graceSec: 30,
      signal: 'SIGQUIT',
      command: [],
    });
    assert.ok(of('htcondor')[0]?.env.includes('PLANCTON_POOL=htcondor'));
    assert.equal(of('htcondor')[0]?.labels['org.plancton.config-hash'], config.pools[0]?.hash);
    assert.equal(second.maxDocks?.value, 20, 'the pools’ max_docks together');
  });

  it("a failed pull of one pool's image is booked for that pool only: the other starts", async () => {
    const engine = new FakeEngine();
    engine.registry.add('busybox');
    const pass = runner(engine);
    const first = await pass.run(config, controls, new LoopSignals());
    assert.deepEqual(first.outcome?.pulls, { busybox: true, 'debian:bookworm-slim': false });
    const second = await pass.run(config, controls, new LoopSignals());
    assert.ok(!second.decision?.actions.some((a) => a.kind === 'pull'), 'the failed pull waits pull_retry');
    assert.deepEqual(
      second.decision?.fit.pools?.map((p) => [p.name, p.toStart, p.blocked ?? '-']),
      [
        ['htcondor', 10, '-'],
        ['workqueue', 0, 'image-missing'],
      ],
    );
  });
});
