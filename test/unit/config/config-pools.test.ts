/** The `pools` key: inheritance from the top level, one implicit pool, every bad key named, host power gated. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { ConfigError } from '../../../src/core/errors.ts';
import { loadConfig, type LoadOptions } from '../../../src/config/load.ts';
import { resolvePolicy } from '../../../src/config/policy.ts';
import type { HostSample } from '../../../src/core/decision.ts';
import { firstPool, shapeHash } from '../../../src/config/pools.ts';
import { pilotShape } from '../../../src/config/pilot-shape.ts';

const HOST = { ncpus: 10, ramBytes: 32e9, swapBytes: 0 };
const load = (text: string, o: Partial<LoadOptions> = {}) =>
  loadConfig({ text, file: 'pools.yaml', env: {}, args: [], host: HOST, ...o });
const sample: HostSample = {
  at: 0,
  ncpus: 10,
  memory: { totalBytes: 32e9, availableBytes: 30e9, swapTotalBytes: 0, swapFreeBytes: 0 },
};

function problems(fn: () => unknown): Record<string, string> {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return Object.fromEntries(err.problems.map((p) => [p.key, p.message]));
  }
  assert.fail('expected a ConfigError');
}

const TWO = `
docker_image: busybox
docker_cmd: /bin/sleep 60
stop_timeout: 30
pools:
  - name: htcondor
    share: 70
    docker_image: plancton-pilot-htcondor:test
    docker_cmd: [/usr/local/bin/plancton-pilot]
    cpus_per_dock: 2
    max_docks: ncpus / 2
    stop_signal: SIGQUIT
    docker_env: [CONDOR_HOST=cm.example.org]
  - name: workqueue
    share: 30
    docker_cmd: work_queue_worker manager 9123
    binds: ["/srv/wq-cache:/cache:ro"]
`;

describe('config: pools', () => {
  it('without pools: one pool, default, of the top-level keys (the pilot and hash every config had)', () => {
    const c = load('docker_image: busybox\nmax_docks: 3\n');
    assert.equal(c.pools.length, 1);
    const [only] = c.pools;
    assert.deepEqual([only?.name, only?.share, only?.own], ['default', 1, []]);
    assert.deepEqual(only?.pilot, pilotShape(c.settings, []));
    assert.equal(only?.hash, shapeHash(pilotShape(c.settings, [])));
    const { policy } = resolvePolicy(c, sample);
    assert.deepEqual(
      policy.pools.map((p) => [p.name, p.share, p.maxDocks]),
      [['default', 1, 3]],
      'one pool, default, of the top-level keys',
    );
  });

  it('each pool has its own keys, and the top level for the rest', () => {
    const c = load(TWO);
    const [htc, wq] = c.pools;
    assert.deepEqual(
      [htc?.name, htc?.share, htc?.pilot.image, htc?.pilot.cmd, htc?.pilot.cpusPerDock],
      ['htcondor', 70, 'plancton-pilot-htcondor:test', ['/usr/local/bin/plancton-pilot'], 2],
    );
    assert.deepEqual(htc?.pilot.env, ['CONDOR_HOST=cm.example.org']);
    assert.deepEqual(
      [wq?.pilot.image, wq?.pilot.cmd, wq?.pilot.binds],
      ['busybox', ['work_queue_worker', 'manager', '9123'], ['/srv/wq-cache:/cache:ro']],
    );
    assert.deepEqual(htc?.own.toSorted(), [
      'cpus_per_dock',
      'docker_cmd',
      'docker_env',
      'docker_image',
      'max_docks',
      'stop_signal',
    ]);
    assert.notEqual(htc?.hash, wq?.hash);
    const { policy } = resolvePolicy(c, sample);
    assert.deepEqual(
      policy.pools.map((p) => [p.name, p.share, p.maxDocks, p.shape.cpusPerDock, p.stopSignal, p.stopTimeoutSec]),
      [
        ['htcondor', 70, 5, 2, 'SIGQUIT', 30],
        ['workqueue', 30, 8, 1, 'SIGTERM', 30],
      ],
    );
  });

  it('a share defaults to 1; the environment sets the top level the pools inherit', () => {
    const c = load('pools:\n  - name: a\n  - name: b\n    docker_image: debian:bookworm-slim\n', {
      env: { PLANCTON_DOCKER_IMAGE: 'busybox:latest' },
    });
    assert.deepEqual(
      c.pools.map((p) => [p.name, p.share, p.pilot.image]),
      [
        ['a', 1, 'busybox:latest'],
        ['b', 1, 'debian:bookworm-slim'],
      ],
    );
  });

  it('PLANCTON_POOLS takes the list as JSON', () => {
    const c = load('', { env: { PLANCTON_POOLS: '[{"name":"a","share":2},{"name":"b"}]' } });
    assert.deepEqual(
      c.pools.map((p) => [p.name, p.share]),
      [
        ['a', 2],
        ['b', 1],
      ],
    );
  });

  it('every bad pool key is named, with its pool', () => {
    const found = problems(() =>
      load(`
pools:
  - name: Bad Name
    share: 0
  - name: ok
    cpus_per_dock: 0.001
    max_docks: ncpus / 0
    docker_cmd: 5
    main_sleep: 3
    docker_imag: typo
  - name: ok
  - 42
`),
    );
    assert.deepEqual(Object.keys(found).toSorted(), [
      'pools[0].name',
      'pools[0].share',
      'pools[1].docker_cmd',
      'pools[1].docker_imag',
      'pools[1].main_sleep',
      'pools[2].name',
      'pools[3]',
    ]);
    assert.match(found['pools[1].main_sleep'] ?? '', /the host's, not a pool's/);
    assert.match(found['pools[1].docker_imag'] ?? '', /not a pool key/);
  });

  it('bounds and max_docks are checked per pool, and duplicate names refused', () => {
    const found = problems(() =>
      load('pools:\n  - name: a\n    cpus_per_dock: 0.001\n  - name: b\n    max_docks: ncpus / 0\n  - name: b\n'),
    );
    assert.deepEqual(Object.keys(found).toSorted(), ['pools[0].cpus_per_dock', 'pools[1].max_docks', 'pools[2].name']);
    assert.match(found['pools[2].name'] ?? '', /names two pools/);
  });

  it('a pool that gives pilots power over the host: a warning from the local file, refused from the config URL', () => {
    const text = 'pools:\n  - name: a\n    binds: ["/etc:/host-etc"]\n';
    const local = load(text);
    assert.ok(local.warnings.some((w) => w.includes('pools[0].binds[0]')));
    assert.deepEqual(
      local.hostPower.map((h) => h.key),
      ['pools[0].binds[0]'],
    );
    const remote = problems(() => load(text, { remote: true }));
    assert.deepEqual(Object.keys(remote), ['pools[0].binds[0]']);
    assert.match(remote['pools[0].binds[0]'] ?? '', /allow_host_power.*binds:\/etc/);
    const allowed = load(text, { remote: true, allowHostPower: ['binds:/etc'] });
    assert.equal(firstPool(allowed.pools).pilot.binds[0], '/etc:/host-etc');
  });

  it('config/pools.yaml, the example of docs/configuration.md, loads as two pools with nothing to warn about', () => {
    const c = loadConfig({
      file: resolve(import.meta.dirname, '../../../config/pools.yaml'),
      fileRequired: true,
      env: {},
      args: [],
      host: HOST,
    });
    assert.deepEqual(
      c.pools.map((p) => [p.name, p.share, p.pilot.image, p.pilot.cpusPerDock, p.settings.stop_timeout]),
      [
        ['htcondor', 70, 'plancton-pilot-htcondor:latest', 1, 600],
        ['workqueue', 30, 'plancton-pilot-workqueue:latest', 2, 120],
      ],
    );
    assert.deepEqual(c.warnings, []);
  });
});
