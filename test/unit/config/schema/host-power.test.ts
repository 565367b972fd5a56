import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../../../../src/core/errors.ts';
import { loadConfig } from '../../../../src/config/load.ts';
import { ConfigSource } from '../../../../src/config/source/source.ts';
import { hostPowerOf } from '../../../../src/config/schema/host-power.ts';
import { newConfig } from '../../../../src/config/schema/keys.ts';
import { firstPool } from '../../../../src/config/pools.ts';

const dir = mkdtempSync(join(tmpdir(), 'plancton-power-'));
const HOST = { ncpus: 4, ramBytes: 8e9, swapBytes: 0 };
const defaults = newConfig({}, []).getProperties();
const grants = (over: object): string[] => hostPowerOf({ ...defaults, ...over }).map((p) => p.grant);

function problems(fn: () => unknown): Array<{ key: string; message: string }> {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('accepted');
}

describe('what gives a pilot power over the host', () => {
  it('privileged, dangerous binds, capabilities, devices, networks, security options', () => {
    assert.deepEqual(grants({ docker_privileged: true }), ['docker_privileged']);
    assert.deepEqual(
      grants({
        binds: [
          '/:/host',
          '/var/run/docker.sock:/s',
          '/run/containerd/containerd.sock:/c',
          '/etc:/e',
          '/etc/x:/x',
          '/proc:/p:ro',
          '/sys/fs:/s:ro',
          '/var:/v:ro',
          '/home/alice:/a:ro',
          '/root/.ssh:/k:ro',
          '/etc/shadow:/s:ro',
          '/dev:/dev',
          '/etc/../:/up',
        ],
      }),
      [
        'binds:/',
        'binds:/var/run/docker.sock',
        'binds:/run/containerd/containerd.sock',
        'binds:/etc',
        'binds:/etc/x',
        'binds:/proc',
        'binds:/sys/fs',
        'binds:/var',
        'binds:/home/alice',
        'binds:/root/.ssh',
        'binds:/etc/shadow',
        'binds:/dev',
        'binds:/etc/../',
      ],
    );
    assert.deepEqual(
      grants({
        capabilities: [
          'ALL',
          'SYS_ADMIN',
          '+sys_ptrace',
          'CAP_SYS_MODULE',
          'NET_ADMIN',
          'DAC_READ_SEARCH',
          'CHOWN',
          '-NET_RAW',
        ],
      }),
      [
        'capabilities:ALL',
        'capabilities:SYS_ADMIN',
        'capabilities:SYS_PTRACE',
        'capabilities:SYS_MODULE',
        'capabilities:NET_ADMIN',
        'capabilities:DAC_READ_SEARCH',
      ],
    );
    assert.deepEqual(
      grants({
        devices: ['/dev/mem', '/dev/kmem:/dev/kmem:r', { PathOnHost: '/dev/sda' }, '/dev/nvme0n1', '/dev/fuse'],
      }),
      ['devices:/dev/mem', 'devices:/dev/kmem', 'devices:/dev/sda', 'devices:/dev/nvme0n1', 'devices:/dev/fuse'],
    );
    assert.deepEqual(grants({ docker_network: 'host' }), ['docker_network:host']);
    assert.deepEqual(grants({ docker_network: 'container:plancton' }), ['docker_network:container:plancton']);
    assert.deepEqual(
      grants({
        security_opts: [
          'seccomp=unconfined',
          'seccomp:/x.json',
          'apparmor=unconfined',
          'apparmor:unconfined',
          'label=disable',
          'label:type:spc_t',
          'systempaths=unconfined',
          'no-new-privileges:false',
          'no-new-privileges',
          'apparmor=docker-default',
        ],
      }),
      [
        'security_opts:seccomp=unconfined',
        'security_opts:seccomp:/x.json',
        'security_opts:apparmor=unconfined',
        'security_opts:apparmor:unconfined',
        'security_opts:label=disable',
        'security_opts:label:type:spc_t',
        'security_opts:systempaths=unconfined',
        'security_opts:no-new-privileges:false',
      ],
    );
  });
  it('leaves ordinary settings alone', () => {
    assert.deepEqual(
      grants({
        binds: [
          '/cvmfs:/cvmfs:shared',
          '/scratch/plancton:/scratch',
          '/etc/plancton/condor-tokens:/etc/condor/tokens.d:ro',
          'vol:/data',
          '/tmp/x:/x',
        ],
        capabilities: ['CHOWN', '-NET_RAW'],
        docker_network: 'pilots',
        security_opts: ['apparmor=docker-default'],
      }),
      [],
    );
  });
});

describe('the local administrator keeps control', () => {
  const cvmfs = 'devices: ["/dev/fuse"]\ncapabilities: ["SYS_ADMIN"]\nbinds: ["/cvmfs:/cvmfs:shared"]\n';
  it('a 0.6 CVMFS site file (FUSE and SYS_ADMIN) keeps working from the local file, with a warning naming each key', () => {
    const c = loadConfig({ text: cvmfs, file: '/etc/plancton/config.yaml', env: {}, args: [], host: HOST });
    assert.deepEqual(
      c.hostPower.map((p) => p.key),
      ['capabilities[0]', 'devices[0]'],
    );
    assert.match(
      c.warnings.join('\n'),
      /host power: capabilities\[0\] \(capabilities:SYS_ADMIN\).*set by the local configuration file/,
    );
    assert.match(c.warnings.join('\n'), /host power: devices\[0\] \(devices:\/dev\/fuse\)/);
  });
  it('an environment variable cannot introduce one, unless allowed exactly', () => {
    const p = problems(() =>
      loadConfig({ env: { PLANCTON_CAPABILITIES: 'SYS_ADMIN,NET_ADMIN' }, args: [], host: HOST }),
    );
    assert.deepEqual(
      p.map((x) => x.key),
      ['capabilities[0]', 'capabilities[1]'],
    );
    assert.match(p[0]?.message ?? '', /PLANCTON_CAPABILITIES.*allow_host_power.*"capabilities:SYS_ADMIN"/);
    const allowed = loadConfig({
      text: 'allow_host_power: ["capabilities:SYS_ADMIN"]\n',
      env: { PLANCTON_CAPABILITIES: 'SYS_ADMIN' },
      args: [],
      host: HOST,
    });
    assert.match(allowed.warnings.join('\n'), /allowed by allow_host_power/);
    assert.deepEqual(
      problems(() =>
        loadConfig({
          text: 'allow_host_power: ["capabilities:SYS_ADMIN"]\n',
          env: { PLANCTON_CAPABILITIES: 'SYS_ADMIN,NET_ADMIN' },
          args: [],
          host: HOST,
        }),
      ).map((x) => x.key),
      ['capabilities[1]'],
    );
    assert.deepEqual(
      problems(() => loadConfig({ env: { PLANCTON_DOCKER_PRIVILEGED: 'true' }, args: [], host: HOST })).map(
        (x) => x.key,
      ),
      ['docker_privileged'],
    );
    assert.deepEqual(
      problems(() => loadConfig({ env: { PLANCTON_DOCKER_NETWORK: 'host' }, args: [], host: HOST })).map((x) => x.key),
      ['docker_network'],
    );
  });
  it('allow_host_power itself only from the local file or the command line', () => {
    const p = problems(() =>
      loadConfig({
        env: { PLANCTON_ALLOW_HOST_POWER: 'docker_privileged', PLANCTON_DOCKER_PRIVILEGED: 'true' },
        args: [],
        host: HOST,
      }),
    );
    assert.deepEqual(
      p.map((x) => x.key),
      ['allow_host_power'],
    );
    assert.deepEqual(
      problems(() =>
        loadConfig({ text: 'allow_host_power: [docker_privileged]\n', remote: true, env: {}, args: [], host: HOST }),
      ).map((x) => x.key),
      ['allow_host_power'],
    );
    assert.deepEqual(
      problems(() => loadConfig({ text: 'allow_host_power: [everything]\n', env: {}, args: [], host: HOST })).map(
        (x) => x.key,
      ),
      ['allow_host_power'],
    );
  });

  describe('from the config URL', () => {
    let server: Server;
    let url = '';
    before(async () => {
      server = createServer((_req, res) => res.writeHead(200).end(cvmfs));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/c.yaml`;
    });
    after(() => server.close());
    const source = (localFile: string): ConfigSource =>
      new ConfigSource({
        paths: {
          runDir: dir,
          pidFile: join(dir, 'pid'),
          logDir: undefined,
          configFile: localFile,
          configRequired: false,
        },
        env: { PLANCTON_CONF_URL: url },
        args: [],
      });

    it('is refused without the local allowance, naming the key and the source', async () => {
      await assert.rejects(
        source(join(dir, 'absent.yaml')).load(),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.problems.map((p) => p.key).join() === 'capabilities[0],devices[0]' &&
          /configuration URL/.test(e.problems[0]?.message ?? ''),
      );
    });
    it('is taken when the local file allows exactly those settings, and nothing else is read from it', async () => {
      const local = join(dir, 'local.yaml');
      writeFileSync(local, 'allow_host_power: ["capabilities:SYS_ADMIN", "devices:/dev/fuse"]\nmax_ttl: 5\n');
      const c = await source(local).load();
      assert.deepEqual(firstPool(c.pools).pilot.capAdd, ['SYS_ADMIN']);
      assert.equal(c.settings.max_ttl, 43200);
      assert.equal(c.hostPower.length, 2);
      writeFileSync(local, 'allow_host_power: ["capabilities:SYS_ADMIN"]\n');
      await assert.rejects(
        source(local).load(),
        (e: unknown) => e instanceof ConfigError && e.problems.map((p) => p.key).join() === 'devices[0]',
      );
    });
  });
});
