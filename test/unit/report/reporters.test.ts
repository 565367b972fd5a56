import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../../src/config/load.ts';
import { ConfigError } from '../../../src/core/errors.ts';
import { MetricsServer } from '../../../src/report/http-server.ts';
import { InfluxWriter } from '../../../src/report/influx-writer.ts';
import { PlanctonMetrics } from '../../../src/report/metrics.ts';
import { createReporters } from '../../../src/report/reporters.ts';
import { memoryLogger, sampleReport } from '../../support/sample-report.ts';

const identity = { instance: 'inst', hostname: 'node1', version: 't' };
const config = (env: Record<string, string>) => loadConfig({ env, args: [] });

describe('createReporters', () => {
  it('without metrics_listen: the InfluxDB writer only (idle without influxdb_url, ready for a reload that sets it)', async () => {
    const reporters = await createReporters(config({}), { logger: memoryLogger().logger, identity });
    assert.equal(reporters.length, 1);
    const writer = reporters[0];
    assert.ok(writer instanceof InfluxWriter);
    assert.deepEqual(writer.targets, []);
    await Promise.all(reporters.map((r) => r.close()));
  });

  it('with metrics_listen: writer, metrics and the HTTP server, wired together', async () => {
    const reporters = await createReporters(
      config({ PLANCTON_METRICS_LISTEN: '127.0.0.1:0', PLANCTON_INFLUXDB_URL: 'http://127.0.0.1:9#db' }),
      { logger: memoryLogger().logger, identity },
    );
    try {
      assert.deepEqual(
        reporters.map((r) => r.constructor.name),
        [InfluxWriter.name, PlanctonMetrics.name, MetricsServer.name],
      );
      for (const r of reporters) r.iteration(sampleReport(), undefined);
      const server = reporters[2] as MetricsServer;
      const body = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      assert.match(body, /^plancton_pilots\{state="running",hostname="node1"\} 2$/m);
      assert.match(
        body,
        /^plancton_influxdb_queued_points\{target="http:\/\/127\.0\.0\.1:9#db",hostname="node1"\} \d+$/m,
      );
    } finally {
      await Promise.all(reporters.map((r) => r.close()));
    }
  });

  it('a bad metrics_listen is a configuration error naming the key, found by the loader before any reporter exists', () => {
    assert.throws(
      () => config({ PLANCTON_METRICS_LISTEN: '9100' }),
      (err: unknown) => err instanceof ConfigError && err.problems[0]?.key === 'metrics_listen',
    );
  });

  it('a port in use is a clear error', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as AddressInfo;
    try {
      await assert.rejects(
        createReporters(config({ PLANCTON_METRICS_LISTEN: `127.0.0.1:${port}` }), {
          logger: memoryLogger().logger,
          identity,
        }),
        /metrics_listen 127\.0\.0\.1:\d+: cannot listen: the port is already in use/,
      );
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });
});
