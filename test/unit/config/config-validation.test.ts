import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/core/errors.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { readHostFacts } from '../../../src/host/host-facts.ts';
import { parseImageReference } from '../../../src/config/schema/image-ref.ts';
import { TIMER_MAX_S } from '../../../src/config/schema/bounds.ts';

const HOST = { ncpus: 8, ramBytes: 16e9, swapBytes: 0 };
const load = (env: Record<string, string>, host = HOST) => loadConfig({ env, args: [], host });

/** The problems of a refused configuration, or fails. */
function refused(env: Record<string, string>, host = HOST): ConfigError {
  try {
    load(env, host);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail(`${JSON.stringify(env)} was accepted`);
}

describe('numbers have bounds that name the key and why', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['main_sleep', '0.000001', /0\.05.*storm of engine calls/],
    ['main_sleep', '1e12', /timer/],
    ['updateconfig', '0.01', /every second/],
    ['grace_kill', String(TIMER_MAX_S + 1), /timer/],
    ['max_ttl', '1e12', /timer/],
    ['cpus_per_dock', '1e-6', /1000 us/],
    ['cpus_per_dock', '0.009', /1000 us/],
    ['max_dock_mem', '1000', /6 MiB/],
    ['stop_timeout', '2.5', /whole number/],
    ['overload_margin', '101', /from 0 to 100/],
    ['psi_memory', '1000', /from 0 to 100/],
    ['docks_per_loop', '100000', /from 0 to 1000/],
    ['influxdb_flush_interval', '0.001', /twice a second/],
  ];
  for (const [key, value, why] of cases) {
    it(`${key}: ${value}`, () => {
      const e = refused({ [`PLANCTON_${key.toUpperCase()}`]: value });
      assert.deepEqual(
        e.problems.map((p) => p.key),
        [key],
      );
      assert.match(e.problems[0]?.message ?? '', why);
    });
  }
  it('the smallest sane values and the timer limit are accepted', () => {
    const c = load({
      PLANCTON_MAIN_SLEEP: '0.05',
      PLANCTON_CPUS_PER_DOCK: '0.01',
      PLANCTON_MAX_DOCK_MEM: '0',
      PLANCTON_MAX_TTL: String(TIMER_MAX_S),
    });
    assert.equal(c.settings.cpus_per_dock, 0.01);
    assert.equal(c.settings.max_ttl, TIMER_MAX_S);
  });
});

describe('signals, image references and cgroup names', () => {
  it('stop_signal must be a signal the kernel knows', () => {
    assert.equal(refused({ PLANCTON_STOP_SIGNAL: 'SIGFOO' }).problems[0]?.key, 'stop_signal');
    assert.equal(refused({ PLANCTON_STOP_SIGNAL: 'SIG+-' }).problems[0]?.key, 'stop_signal');
    assert.equal(load({ PLANCTON_STOP_SIGNAL: 'SIGUSR1' }).settings.stop_signal, 'SIGUSR1');
  });
  it('docker_image is parsed as Docker does', () => {
    for (const bad of [
      'UPPER CASE/with spaces::',
      'Busybox',
      'busybox:',
      'busybox::1',
      'a//b',
      '-a',
      'busybox@sha256:abc',
      `busybox@sha256:${'a'.repeat(63)}`,
      'busybox:-x',
      `x:${'t'.repeat(129)}`,
    ]) {
      assert.deepEqual(
        refused({ PLANCTON_DOCKER_IMAGE: bad }).problems.map((p) => p.key),
        ['docker_image'],
        bad,
      );
    }
    const digest = `sha256:${'0'.repeat(64)}`;
    assert.deepEqual(parseImageReference(`registry.example.org:5000/alice/pilot:1.2@${digest}`), {
      domain: 'registry.example.org:5000',
      path: 'alice/pilot',
      tag: '1.2',
      digest,
    });
    assert.deepEqual(parseImageReference('localhost/p'), {
      domain: 'localhost',
      path: 'p',
      tag: undefined,
      digest: undefined,
    });
    assert.deepEqual(parseImageReference('library/busybox'), {
      domain: undefined,
      path: 'library/busybox',
      tag: undefined,
      digest: undefined,
    });
    for (const ok of ['busybox', 'busybox:latest', 'a.b/c__d/e-f.g:T_1', '[::1]:5000/x', 'Example.ORG/x'])
      assert.equal(load({ PLANCTON_DOCKER_IMAGE: ok }).settings.docker_image, ok);
  });
  it('cgroup_parent is a plain relative name', () => {
    for (const bad of ['../../etc', '/plancton', 'a//b', 'a/', 'a/../b', '.', '..', 'a b']) {
      assert.deepEqual(
        refused({ PLANCTON_CGROUP_PARENT: bad }).problems.map((p) => p.key),
        ['cgroup_parent'],
        bad,
      );
    }
    for (const ok of ['', 'plancton', 'plancton/pilots', 'plancton.slice'])
      assert.equal(load({ PLANCTON_CGROUP_PARENT: ok }).settings.cgroup_parent, ok);
  });
});

describe('max_docks is evaluated on this host', () => {
  for (const expr of ['ncpus/0', '10**10**10', 'ncpus % 0', '-3', '0 - 1', 'ram_bytes']) {
    it(`refuses ${expr}`, () => {
      const e = refused({ PLANCTON_MAX_DOCKS: expr });
      assert.deepEqual(
        e.problems.map((p) => p.key),
        ['max_docks'],
      );
    });
  }
  it('an expression negative on this host only warns (0.6: no pilot)', () => {
    const c = load({ PLANCTON_MAX_DOCKS: 'ncpus - 2' }, { ncpus: 1, ramBytes: 1e9, swapBytes: 0 });
    assert.match(c.warnings.join('\n'), /max_docks "ncpus - 2" is -1 on this host.*no pilot/);
  });
  it("is read from host_proc by the host layer's reader (what the CLI and the config source give)", () => {
    assert.equal(loadConfig({ env: {}, args: [], hostFacts: readHostFacts }).warnings.length, 0);
    const c = loadConfig({ env: { PLANCTON_HOST_PROC: '/nonexistent' }, args: [], hostFacts: readHostFacts });
    assert.match(c.warnings.join('\n'), /max_docks is not checked against this host/);
  });
});
