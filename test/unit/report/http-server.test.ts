import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { ConfigError } from '../../../src/core/errors.ts';
import { parseListenAddress } from '../../../src/config/schema/listen-address.ts';
import { MetricsServer } from '../../../src/report/http-server.ts';
import { PlanctonMetrics } from '../../../src/report/metrics.ts';
import { memoryLogger, sampleReport, T0 } from '../../support/sample-report.ts';

function call(
  port: number,
  path: string,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('metrics_listen', () => {
  it('accepts host:port, [ipv6]:port, :port (every interface); empty is off', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:9100'), { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(parseListenAddress('localhost:0'), { host: 'localhost', port: 0 });
    assert.deepEqual(parseListenAddress('[::1]:9100'), { host: '::1', port: 9100 });
    assert.deepEqual(parseListenAddress(':9100'), { host: undefined, port: 9100 });
    assert.equal(parseListenAddress(''), undefined);
    assert.equal(parseListenAddress('  '), undefined);
  });

  it('refuses anything else, naming the key', () => {
    for (const bad of ['9100', '::1:9100', '127.0.0.1', 'h:99999', '[zz]:1', 'h:port', 'a b:1']) {
      assert.throws(
        () => parseListenAddress(bad),
        (err: unknown) => err instanceof ConfigError && err.problems[0]?.key === 'metrics_listen',
        bad,
      );
    }
  });
});

describe('HTTP endpoints on a real server', () => {
  let server: MetricsServer;
  let metrics: PlanctonMetrics;
  let now = T0 + 90_000;
  const log = memoryLogger();

  before(async () => {
    metrics = new PlanctonMetrics({
      identity: { instance: 'inst', hostname: 'node1', version: 't' },
      processMetrics: false,
    });
    server = await MetricsServer.start(
      { host: '127.0.0.1', port: 0 },
      { registry: metrics.registry, logger: log.logger, now: () => now },
    );
  });
  after(async () => {
    await server.close();
    await metrics.close();
  });

  it('before the first iteration: /healthz and /status answer 503', async () => {
    const h = await call(server.port, '/healthz');
    assert.equal(h.status, 503);
    assert.deepEqual(JSON.parse(h.body), { status: 'unhealthy', reason: 'no iteration yet' });
    assert.equal((await call(server.port, '/status')).status, 503);
  });

  it('/metrics serves the registry in the Prometheus text format', async () => {
    const report = sampleReport();
    metrics.iteration(report, undefined);
    server.iteration(report);
    const r = await call(server.port, '/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^# HELP plancton_pilots /m);
    assert.match(r.body, /^plancton_pilots\{state="running",hostname="node1"\} 2$/m);
  });

  it('/healthz: 200 while the loop reports and the engine answers', async () => {
    const r = await call(server.port, '/healthz');
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { status: 'healthy', state: 'active', pilots: 3 });
  });

  it('/healthz: 503 once no report came for max(3 x main_sleep, 60 s)', async () => {
    now = T0 + 90_000 + 89_000; // main_sleep 30: limit 90 s
    assert.equal((await call(server.port, '/healthz')).status, 200);
    now = T0 + 90_000 + 91_000;
    const r = await call(server.port, '/healthz');
    assert.equal(r.status, 503);
    assert.match((JSON.parse(r.body) as { reason: string }).reason, /no iteration for 91 s/);
    now = T0 + 90_000;
  });

  it('/healthz: 503 with the reason while the engine is unreachable', async () => {
    server.iteration(
      sampleReport({
        state: 'waiting',
        engine: { reachable: false, error: 'connect ENOENT /nowhere.sock' },
        pilots: [],
      }),
    );
    const r = await call(server.port, '/healthz');
    assert.equal(r.status, 503);
    assert.deepEqual(JSON.parse(r.body), {
      status: 'unhealthy',
      reason: 'engine unreachable: connect ENOENT /nowhere.sock',
    });
    server.iteration(sampleReport());
  });

  it('/status: the latest report, as plancton status --json', async () => {
    const r = await call(server.port, '/status');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(r.body), JSON.parse(JSON.stringify({ running: true, ...sampleReport() })));
  });

  it('HEAD: headers without a body; other methods 405; other paths 404', async () => {
    const head = await call(server.port, '/metrics', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.ok(Number(head.headers['content-length']) > 0);
    const post = await call(server.port, '/metrics', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.equal((await call(server.port, '/')).status, 404);
    assert.equal((await call(server.port, '/metrics/x')).status, 404);
    assert.equal((await call(server.port, '/metrics?x=1')).status, 200);
  });

  it('a port already in use is a clear error', async () => {
    await assert.rejects(
      MetricsServer.start({ host: '127.0.0.1', port: server.port }, { registry: metrics.registry, logger: log.logger }),
      new RegExp(`metrics_listen 127\\.0\\.0\\.1:${server.port}: cannot listen: the port is already in use`),
    );
  });
});

describe('the endpoint: a bearer token, and slow clients let go', () => {
  const TOKEN = 'a-token-of-24-characters';
  let server: MetricsServer;
  let metrics: PlanctonMetrics;
  const log = memoryLogger();
  before(async () => {
    metrics = new PlanctonMetrics({
      identity: { instance: 'inst', hostname: 'node1', version: 't' },
      processMetrics: false,
    });
    server = await MetricsServer.start(
      { host: '127.0.0.1', port: 0 },
      { registry: metrics.registry, logger: log.logger, token: TOKEN },
    );
  });
  after(async () => {
    await server.close();
    await metrics.close();
  });
  const get = (path: string, authorization?: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: server.port, path, headers: authorization ? { authorization } : {} },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end();
    });

  it('/metrics and /status need the token; /healthz stays open for probes', async () => {
    assert.equal(await get('/metrics'), 401);
    assert.equal(await get('/metrics', 'Bearer wrong-token-of-some-length'), 401);
    assert.equal(await get('/status', `Basic ${TOKEN}`), 401);
    assert.equal(await get('/metrics', `Bearer ${TOKEN}`), 200);
    assert.equal(await get('/status', `bearer ${TOKEN}`), 503, 'past the token: no iteration yet');
    assert.equal(await get('/healthz'), 503, 'open, and unhealthy before the first iteration');
  });

  it('a client that connects and sends nothing is disconnected by the server', async () => {
    const socket = connect(server.port, '127.0.0.1');
    socket.resume();
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    assert.ok(socket.destroyed);
  });
});
