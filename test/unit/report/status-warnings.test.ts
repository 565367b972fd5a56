/**
 * `plancton status` names the settings that give pilots power over the host and a config URL that
 * could not be fetched (the last good configuration kept) for as long as they hold, not only in
 * the start-up log: from the configuration in force, through the status file, to the table.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig, type LoadedConfig } from '../../../src/config/load.ts';
import { ConfigSource } from '../../../src/config/source/source.ts';
import { PassRecorder } from '../../../src/daemon/recorder.ts';
import { RunDir } from '../../../src/daemon/run-dir.ts';
import { createLogger } from '../../../src/report/logger.ts';
import { RemovalLog } from '../../../src/report/removals.ts';
import { formatStatus, warningLines, type StatusReport } from '../../../src/report/status.ts';
import { FakeClock } from '../../support/fake-clock.ts';

const dir = mkdtempSync(join(tmpdir(), 'plancton-status-warnings-'));
const env = { PLANCTON_INSTANCE_ID: 'warn', PLANCTON_CGROUP_PARENT: '' };

/** The status file a pass of a daemon running `config` writes, as `plancton status` reads it back. */
async function statusOf(config: LoadedConfig): Promise<StatusReport> {
  const runDir = new RunDir(mkdtempSync(join(dir, 'run-')));
  await runDir.ensure();
  const recorder = new PassRecorder({
    runDir,
    logger: createLogger({ level: 'error', stream: new PassThrough(), json: true }),
    identity: { instance: 'warn', hostname: 'h', version: 't' },
    reporters: [],
    removals: new RemovalLog(),
    clock: new FakeClock(),
    startedAt: 0,
    idle: { enabled: false, detail: 'off' },
  });
  const controls = { drain: false, drainStop: false, forceStop: false };
  await recorder.record(
    { at: 0, controls, pilots: [], status: 'active', nextMs: 1000 },
    {
      config,
      reloadError: undefined,
      iterations: 1,
    },
  );
  return (await runDir.readStatus()) as StatusReport;
}

describe('status warnings', () => {
  it("names each host-power setting of the local file (0.6's CVMFS shape) in the status file and the table", async () => {
    const file = join(dir, 'cvmfs.yaml');
    writeFileSync(
      file,
      'capabilities: [SYS_ADMIN]\ndevices: [/dev/fuse]\nbinds: ["/var/run/docker.sock:/var/run/docker.sock"]\n',
    );
    const config = loadConfig({ file, fileRequired: true, env, args: [] });
    const status = await statusOf(config);
    assert.deepEqual(
      status.config.hostPower?.map((p) => p.grant),
      ['binds:/var/run/docker.sock', 'capabilities:SYS_ADMIN', 'devices:/dev/fuse'],
    );
    const table = formatStatus(status, 0, true);
    assert.match(table, /^warning: {2}HOST POWER: capabilities\[0\] \(capabilities:SYS_ADMIN\): mounts, namespaces/m);
    assert.match(table, /^warning: {2}HOST POWER: devices\[0\] \(devices:\/dev\/fuse\): FUSE mounts/m);
    assert.match(
      table,
      /^warning: {2}HOST POWER: binds\[0\] \(binds:\/var\/run\/docker.sock\): binds the container engine's socket/m,
    );
    // each named once, not again as a plain warning
    assert.equal(table.match(/capabilities\[0\]/g)?.length, 1);
  });

  it('a configuration without host power or warnings adds no line', async () => {
    const status = await statusOf(loadConfig({ env, args: [] }));
    assert.deepEqual(status.config.hostPower, []);
    assert.deepEqual(warningLines(status.config), []);
    assert.doesNotMatch(formatStatus(status, 0, true), /warning:/);
  });

  it('lists other warnings too, at most 20 and a count of the rest', () => {
    const warnings = Array.from({ length: 25 }, (_, i) => `unknown key 'k${i}' in f is ignored`);
    const lines = warningLines({ source: 'f', hash: 'h', mainSleep: 30, maxDocks: 1, warnings });
    assert.equal(lines.length, 21);
    assert.equal(lines[20], 'warning:  and 5 more warnings');
  });

  describe('a config URL that stops answering', () => {
    let server: Server;
    let failing = false;
    let url = '';
    before(async () => {
      server = createServer((_req, res) => {
        if (failing) res.writeHead(503).end('down for maintenance');
        else res.writeHead(200, { 'content-type': 'text/yaml' }).end('max_docks: 3\n');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/plancton.yaml`;
    });
    after(() => {
      server.closeAllConnections();
      server.close();
    });

    it('the failed fetch is a warning of every load until a fetch succeeds, and status shows it', async () => {
      let now = 0;
      const source = new ConfigSource({
        paths: {
          runDir: dir,
          pidFile: join(dir, 'pid'),
          logDir: undefined,
          configFile: join(dir, 'no-local.yaml'),
          configRequired: false,
        },
        env: { ...env, PLANCTON_CONF_URL: url, PLANCTON_CONF_ALLOW_HTTP: '1', PLANCTON_CONF_UPDATE: '60' },
        args: [],
        cacheFile: join(dir, 'cache.yaml'),
        now: () => now,
      });
      const fetchWarning = (c: LoadedConfig): string | undefined =>
        c.warnings.find((w) => /keeping the last good/.test(w));
      assert.equal(fetchWarning(await source.load()), undefined);
      failing = true;
      now += 61_000;
      const down = await source.load();
      assert.equal(down.settings.max_docks, 3, 'the last good configuration');
      assert.match(fetchWarning(down) ?? '', /503/);
      // a load between two fetches (as the daemon reloads every updateconfig) still says so
      now += 1_000;
      const between = await source.load();
      assert.match(fetchWarning(between) ?? '', /503/);
      const table = formatStatus(await statusOf(between), 0, true);
      assert.match(table, /^warning: {2}.*503.*keeping the last good configuration$/m);
      failing = false;
      now += 61_000;
      assert.equal(fetchWarning(await source.load()), undefined, 'gone once a fetch succeeds');
    });
  });
});
