import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../src/core/errors.ts';
import { loadConfig, type LoadOptions } from '../../../src/config/load.ts';
import { KEYS, describeKey } from '../../../src/config/schema/keys.ts';
import { firstPool } from '../../../src/config/pools.ts';

const dir = mkdtempSync(join(tmpdir(), 'plancton-config-'));
let n = 0;
function file(text: string): string {
  const p = join(dir, `c${n++}.yaml`);
  writeFileSync(p, text);
  return p;
}
const load = (o: Partial<LoadOptions>) => loadConfig({ env: {}, args: [], fileRequired: true, ...o });

/** The keys named by a ConfigError, or fails. */
function badKeys(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems.map((p) => p.key);
  }
  assert.fail('expected a ConfigError');
}

describe('config: 0.6 defaults', () => {
  const { settings: s, pools } = load({});
  const { pilot } = firstPool(pools);
  const expected: Record<string, unknown> = {
    updateconfig: 60,
    image_expiration: 43200,
    main_sleep: 30,
    grace_kill: 120,
    grace_spawn: 60,
    cpus_per_dock: 1,
    max_docks: 'ncpus - 2',
    docks_per_loop: 4,
    max_ttl: 43200,
    docker_image: 'busybox',
    docker_cmd: '/bin/sleep 60',
    docker_privileged: false,
    max_dock_mem: 2000000000,
    max_dock_swap: 0,
    binds: [],
    devices: [],
    capabilities: [],
    security_opts: [],
    influxdb_url: null,
  };
  for (const [k, v] of Object.entries(expected)) {
    it(`${k} defaults to ${JSON.stringify(v)}`, () =>
      assert.deepEqual((s as unknown as Record<string, unknown>)[k], v));
  }
  it('docker_cmd string is split on spaces', () => assert.deepEqual(pilot.cmd, ['/bin/sleep', '60']));
  it("least privilege, not 0.6: the image's own user (0.6: 0:0), no-new-privileges, NET_RAW dropped, 4096 processes", () => {
    assert.equal(s.user_group, '');
    assert.equal(pilot.user, '');
    assert.deepEqual(pilot.securityOpt, ['no-new-privileges']);
    assert.deepEqual(pilot.capDrop, ['NET_RAW']);
    assert.equal(pilot.pidsLimit, 4096);
  });
  it('each of them can be turned off, and a 0.6 file that sets user_group keeps it', () => {
    const off = firstPool(
      load({
        env: {
          PLANCTON_DOCKER_NO_NEW_PRIVILEGES: 'false',
          PLANCTON_DOCKER_DROP_NET_RAW: 'false',
          PLANCTON_MAX_DOCK_PIDS: '0',
          PLANCTON_USER_GROUP: '0:0',
        },
      }).pools,
    ).pilot;
    assert.deepEqual([off.securityOpt, off.capDrop, off.pidsLimit, off.user], [[], [], 0, '0:0']);
    const kept = firstPool(
      load({
        env: { PLANCTON_CAPABILITIES: 'NET_RAW', PLANCTON_SECURITY_OPTS: 'no-new-privileges:false' },
        args: ['--allow_host_power', 'security_opts:no-new-privileges:false'],
      }).pools,
    ).pilot;
    assert.deepEqual([kept.securityOpt, kept.capDrop, kept.capAdd], [['no-new-privileges:false'], [], ['NET_RAW']]);
  });
  it('every key has a doc and a PLANCTON_ env name', () => {
    for (const k of KEYS) {
      const d = describeKey(k);
      assert.ok(d.doc.length > 10, k);
      assert.equal(d.env, `PLANCTON_${k.toUpperCase()}`);
    }
  });
});

describe('config: a 0.6 file is accepted unchanged', () => {
  const c = load({
    file: file(`
updateconfig: 30
max_docks: "min(ncpus, ram_bytes // max_dock_mem)"
cpus_per_dock: 0.5
docker_image: "dberzano/wn:latest"
docker_cmd: ["/bin/bash", "-c", "condor_master -f"]
docker_privileged: true
max_dock_mem: 4000000000
max_dock_swap: 1000000000
user_group: "1000:1000"
binds: ["/cvmfs:/cvmfs:ro", "/tmp/x:/x"]
devices: ["/dev/fuse:/dev/fuse:rwm", {PathOnHost: /dev/kvm, PathInContainer: /dev/kvm, CgroupPermissions: rw}, "/dev/null"]
capabilities: ["SYS_ADMIN", "+NET_ADMIN", "-NET_RAW", "cap_sys_ptrace"]
security_opts: ["apparmor:unconfined"]
influxdb_url: ["http://user:pw@127.0.0.1:8086#plancton", "insecure_https:https://h:8443#db"]
secopt: whatever
rigidity: 3
`),
  });
  it('reads the values', () => {
    assert.equal(c.settings.updateconfig, 30);
    assert.equal(c.settings.cpus_per_dock, 0.5);
    assert.equal(
      c.pools[0]?.maxDocks.evaluate({ ncpus: 8, ram_bytes: 12e9, swap_bytes: 0, max_dock_mem: 4e9, max_dock_swap: 0 }),
      3,
    );
  });
  it('normalizes command, devices and capabilities', () => {
    assert.deepEqual(firstPool(c.pools).pilot.cmd, ['/bin/bash', '-c', 'condor_master -f']);
    assert.deepEqual(firstPool(c.pools).pilot.devices, [
      { pathOnHost: '/dev/fuse', pathInContainer: '/dev/fuse', cgroupPermissions: 'rwm' },
      { pathOnHost: '/dev/kvm', pathInContainer: '/dev/kvm', cgroupPermissions: 'rw' },
      { pathOnHost: '/dev/null', pathInContainer: '/dev/null', cgroupPermissions: 'rwm' },
    ]);
    assert.deepEqual(firstPool(c.pools).pilot.capAdd, ['SYS_ADMIN', 'NET_ADMIN', 'SYS_PTRACE']);
    assert.deepEqual(firstPool(c.pools).pilot.capDrop, ['NET_RAW']);
  });
  it('warns about unknown keys by name and goes on', () => {
    // the file's host-power settings (privileged, SYS_ADMIN...) are named in warnings of their own
    const unknown = c.warnings.filter((w) => !w.startsWith('host power:'));
    assert.equal(unknown.length, 2);
    assert.match(unknown[0] ?? '', /unknown key 'secopt'/);
    assert.match(unknown[1] ?? '', /unknown key 'rigidity'/);
  });
  it('the pilot hash changes with the pilot shape only', () => {
    const a = load({ file: file('docker_image: busybox\nmain_sleep: 5\n') });
    const b = load({ file: file('docker_image: busybox\nmain_sleep: 7\n') });
    const d = load({ file: file('docker_image: busybox:1\nmain_sleep: 5\n') });
    assert.equal(firstPool(a.pools).hash, firstPool(b.pools).hash);
    assert.notEqual(firstPool(a.pools).hash, firstPool(d.pools).hash);
  });
});

describe('config: precedence default < file < env < command line', () => {
  const f = file('max_ttl: 100\nmain_sleep: 5\ndocks_per_loop: 2\n');
  const c = load({
    file: f,
    env: { PLANCTON_MAIN_SLEEP: '7', PLANCTON_DOCKS_PER_LOOP: '3' },
    args: ['--docks_per_loop', '9'],
  });
  it('file over default', () => assert.equal(c.settings.max_ttl, 100));
  it('env over file', () => assert.equal(c.settings.main_sleep, 7));
  it('command line over env', () => assert.equal(c.settings.docks_per_loop, 9));
  it('origins say where each value came from', () => {
    assert.equal(c.origins.max_ttl, 'file');
    assert.equal(c.origins.main_sleep, 'env');
    assert.equal(c.origins.docks_per_loop, 'arg');
    assert.equal(c.origins.grace_kill, 'default');
  });
  it('env lists: JSON or comma separated; env booleans are strict', () => {
    // privileged from the environment needs the local allowance (allow_host_power, here on the command line)
    const e = load({
      env: {
        PLANCTON_BINDS: '/a:/a,/b:/b:ro',
        PLANCTON_CAPABILITIES: '["-NET_RAW"]',
        PLANCTON_DOCKER_PRIVILEGED: 'yes',
      },
      args: ['--allow_host_power', 'docker_privileged'],
    });
    assert.deepEqual(e.settings.binds, ['/a:/a', '/b:/b:ro']);
    assert.deepEqual(firstPool(e.pools).pilot.capDrop, ['NET_RAW']);
    assert.equal(e.settings.docker_privileged, true);
    assert.deepEqual(
      badKeys(() => load({ env: { PLANCTON_DOCKER_PRIVILEGED: 'maybe' } })),
      ['docker_privileged'],
    );
  });
  it('env numbers are strict: "12abc" is an error, not 12', () => {
    assert.deepEqual(
      badKeys(() => load({ env: { PLANCTON_MAIN_SLEEP: '12abc' } })),
      ['main_sleep'],
    );
  });
});

describe('config: bad input names each bad key', () => {
  it('several bad keys at once', () => {
    const keys = badKeys(() =>
      load({ file: file('main_sleep: -1\ndocks_per_loop: 1.5\ndocker_image: ""\nbinds: {a: 1}\n') }),
    );
    assert.deepEqual(keys.sort(), ['binds', 'docker_image', 'docks_per_loop', 'main_sleep']);
  });
  it('a single string where a list is expected is taken as a one-item list', () => {
    assert.deepEqual(load({ file: file('binds: "/a:/a"\n') }).settings.binds, ['/a:/a']);
  });
  it('bad entries inside lists are named with their index', () => {
    const keys = badKeys(() =>
      load({
        file: file(
          'devices: ["dev/fuse", {PathOnHost: /dev/x, Foo: 1}, "/dev/a:/dev/a:rwx"]\ncapabilities: ["SYS ADMIN"]\nbinds: ["/a"]\ndocker_env: ["1X=2"]\n',
        ),
      }),
    );
    assert.deepEqual(keys, ['capabilities[0]', 'binds[0]', 'docker_env[0]', 'devices[0]', 'devices[1]', 'devices[2]']);
  });
  it('a metrics_listen that is not host:port is named at load time', () => {
    assert.deepEqual(
      badKeys(() => load({ env: { PLANCTON_METRICS_LISTEN: '9100' } })),
      ['metrics_listen'],
    );
    assert.deepEqual(
      badKeys(() => load({ env: { PLANCTON_METRICS_LISTEN: '127.0.0.1:70000' } })),
      ['metrics_listen'],
    );
    assert.equal(
      load({ env: { PLANCTON_METRICS_LISTEN: '127.0.0.1:9100' } }).settings.metrics_listen,
      '127.0.0.1:9100',
    );
  });
  it('influxdb_url without a database, with a bad scheme', () => {
    const keys = badKeys(() => load({ file: file('influxdb_url: ["http://127.0.0.1:8086", "ftp://x#db"]\n') }));
    assert.deepEqual(keys, ['influxdb_url[0]', 'influxdb_url[1]']);
  });
  it('a credential in influxdb_url never appears in an error message', () => {
    try {
      load({ file: file('influxdb_url: "http://admin:s3cret@127.0.0.1:8086"\n') });
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.doesNotMatch(err.message, /s3cret/);
    }
  });
  it('not YAML, not a mapping, missing required file', () => {
    assert.match(badKeys(() => load({ file: file('a: [1, 2\n') }))[0] ?? '', /c\d+\.yaml$/);
    assert.equal(badKeys(() => load({ file: file('- 1\n- 2\n') })).length, 1);
    assert.equal(badKeys(() => load({ file: join(dir, 'missing.yaml') })).length, 1);
  });
  it('a missing implicit default file means defaults, with a warning', () => {
    const c = loadConfig({ file: join(dir, 'absent.yaml'), fileRequired: false, env: {}, args: [] });
    assert.equal(c.source, 'defaults');
    assert.match(c.warnings[0] ?? '', /no configuration file/);
  });
  it('an empty file and null values mean defaults', () => {
    assert.equal(load({ file: file('') }).settings.main_sleep, 30);
    assert.equal(load({ file: file('main_sleep:\n') }).settings.main_sleep, 30);
  });
});

describe('config: max_docks is parsed, never evaluated as code', () => {
  const hostile = [
    'process.exit(1)',
    "require('child_process').execSync('touch /tmp/pwned')",
    'globalThis',
    'constructor',
    '__proto__',
    'ncpus.constructor',
    'this',
    '1; 2',
    'ncpus = 3',
    '`id`',
    "import('fs')",
    '() => 1',
    '[1]',
    'ncpus - ',
    'foo(1)',
    '(('.repeat(5000),
  ];
  for (const src of hostile) {
    it(`rejects ${JSON.stringify(src.slice(0, 40))} naming max_docks`, () => {
      assert.deepEqual(
        badKeys(() => load({ env: { PLANCTON_MAX_DOCKS: src } })),
        ['max_docks'],
      );
    });
  }
  it('accepts a plain number, from a file and from the environment', () => {
    assert.equal(
      load({ file: file('max_docks: 3\n') }).pools[0]?.maxDocks.evaluate({
        ncpus: 1,
        ram_bytes: 0,
        swap_bytes: 0,
        max_dock_mem: 0,
        max_dock_swap: 0,
      }),
      3,
    );
    assert.equal(
      load({ env: { PLANCTON_MAX_DOCKS: '5' } }).pools[0]?.maxDocks.evaluate({
        ncpus: 1,
        ram_bytes: 0,
        swap_bytes: 0,
        max_dock_mem: 0,
        max_dock_swap: 0,
      }),
      5,
    );
  });
});
