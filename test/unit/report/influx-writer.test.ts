import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { InfluxTarget } from '../../../src/config/schema/influx-url.ts';
import type { InfluxClient } from '../../../src/report/influx-client.ts';
import { iterationPoints, type Point } from '../../../src/report/influx-points.ts';
import { InfluxWriter } from '../../../src/report/influx-writer.ts';
import type { LoadedConfig } from '../../../src/config/load.ts';
import { memoryLogger, sampleRemoval, sampleReport } from '../../support/sample-report.ts';

type Mode = 'ok' | 'fail' | 'hang' | 'no-db';

/** An InfluxDB stand-in whose answers the test decides. */
class FakeClient implements InfluxClient {
  mode: Mode = 'ok';
  written: Point[] = [];
  calls = 0;
  inFlight = 0;
  maxInFlight = 0;
  created = 0;
  #hung: Array<(err: Error) => void> = [];

  async write(points: readonly Point[]): Promise<void> {
    this.calls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await delay(1);
      if (this.mode === 'hang') await new Promise<void>((_, reject) => this.#hung.push(reject));
      if (this.mode === 'fail') throw new Error('connect ECONNREFUSED 127.0.0.1:1');
      if (this.mode === 'no-db')
        throw new Error('A 404 Not Found error occurred: {"error":"database not found: \\"plancton\\""}');
      this.written.push(...points);
    } finally {
      this.inFlight--;
    }
  }

  createDatabase(): Promise<void> {
    this.created++;
    this.mode = 'ok';
    return Promise.resolve();
  }

  destroy(): void {
    for (const reject of this.#hung.splice(0)) reject(new Error('socket hang up'));
  }
}

const settings = (over: Record<string, unknown> = {}) =>
  ({
    influxdb_url: 'http://127.0.0.1:8086#plancton',
    influxdb_username: '',
    influxdb_password: '',
    influxdb_queue_size: 1000,
    influxdb_flush_interval: 3600,
    ...over,
  }) as ConstructorParameters<typeof InfluxWriter>[0];

function writerWith(over: Record<string, unknown> = {}) {
  const clients: FakeClient[] = [];
  const targets: InfluxTarget[] = [];
  const log = memoryLogger();
  const w = new InfluxWriter(settings(over), {
    hostname: 'node1',
    logger: log.logger,
    closeTimeoutMs: 200,
    clientFactory: (t) => {
      const c = new FakeClient();
      clients.push(c);
      targets.push(t);
      return c;
    },
  });
  return { w, clients, targets, log };
}

/** Points of one iteration of the sample report, without a host sample. */
const PER_ITERATION = iterationPoints(sampleReport(), undefined, { queued: 0, dropped: 0 }).length;

describe('InfluxWriter with a stand-in client', () => {
  it('queues on iteration and removal, writes on flush', async () => {
    const { w, clients } = writerWith();
    w.iteration(sampleReport(), undefined);
    w.removal(sampleRemoval());
    assert.equal(clients[0]?.calls, 0, 'nothing written before the flush');
    await w.flush();
    const names = clients[0]?.written.map((p) => p.measurement) ?? [];
    assert.ok(
      names.includes('daemon') &&
        names.includes('measurement') &&
        names.includes('container') &&
        names.includes('removal'),
    );
    assert.equal(w.stats().queued, 0);
    await w.close();
  });

  it('never blocks: with InfluxDB hanging, iteration() and removal() return at once and one write is in flight', async () => {
    const { w, clients } = writerWith();
    const c = clients[0] as FakeClient;
    c.mode = 'hang';
    for (let i = 0; i < 50; i++) {
      const t = process.hrtime.bigint();
      w.iteration(sampleReport({ updatedAt: sampleReport().updatedAt + i * 1000 }), undefined);
      w.removal(sampleRemoval());
      assert.ok(process.hrtime.bigint() - t < 20_000_000n, 'returns within 20 ms');
      void w.flush();
    }
    await delay(20);
    assert.equal(c.calls, 1, 'one write, however many flushes');
    assert.equal(c.maxInFlight, 1);
    await w.close();
    assert.equal(c.inFlight, 0, 'close ends the hung write');
  });

  it('bounded: past influxdb_queue_size the oldest points are dropped and counted exactly', async () => {
    const { w, clients } = writerWith({ influxdb_queue_size: 25 });
    const c = clients[0] as FakeClient;
    c.mode = 'fail';
    for (let i = 0; i < 6; i++) {
      w.iteration(sampleReport({ iterations: i }), undefined);
      await w.flush();
    }
    assert.equal(w.stats().dropped, 6 * PER_ITERATION - 25);
    assert.equal(w.stats().queued, 25);
    assert.equal(w.stats().writeErrors, 6);
    c.mode = 'ok';
    await w.flush();
    assert.equal(c.written.length, 25);
    // the newest survived: the last iteration's daemon_stats is there
    assert.equal(c.written.filter((p) => p.measurement === 'daemon_stats').at(-1)?.fields.iterations, 5);
    assert.equal(w.stats().written, 25);
    await w.close();
  });

  it('what was queued while InfluxDB was down arrives when it returns, in order', async () => {
    const { w, clients, log } = writerWith();
    const c = clients[0] as FakeClient;
    c.mode = 'fail';
    for (let i = 0; i < 3; i++) {
      w.iteration(sampleReport({ iterations: i }), undefined);
      await w.flush();
    }
    c.mode = 'ok';
    await w.flush();
    const its = c.written.filter((p) => p.measurement === 'daemon_stats').map((p) => p.fields.iterations);
    assert.deepEqual(its, [0, 1, 2]);
    assert.equal(w.stats().dropped, 0);
    assert.match(log.text(), /write failed, keeping up to 1000 points/);
    assert.match(log.text(), /writing again/);
    assert.equal((log.text().match(/write failed, keeping/g) ?? []).length, 1, 'warned once per outage');
    await w.close();
  });

  it('creates the database when a write says it is missing, then writes', async () => {
    const { w, clients } = writerWith();
    const c = clients[0] as FakeClient;
    c.mode = 'no-db';
    w.iteration(sampleReport(), undefined);
    await w.flush();
    assert.equal(c.created, 1);
    assert.equal(c.written.length, PER_ITERATION);
    await w.close();
  });

  it('writes to every URL, each with its own queue', async () => {
    const { w, clients } = writerWith({ influxdb_url: ['http://127.0.0.1:8086#a', 'http://127.0.0.1:8087#b'] });
    assert.equal(clients.length, 2);
    (clients[1] as FakeClient).mode = 'fail';
    w.iteration(sampleReport(), undefined);
    await w.flush();
    assert.equal(clients[0]?.written.length, PER_ITERATION);
    assert.deepEqual(
      w.stats().targets.map((t) => [t.target, t.queued]),
      [
        ['http://127.0.0.1:8086#a', 0],
        ['http://127.0.0.1:8087#b', PER_ITERATION],
      ],
    );
    await w.close();
  });

  it('a reload keeps the backlog of unchanged URLs, adds new ones and resizes queues', async () => {
    const { w, clients } = writerWith({ influxdb_queue_size: 100 });
    (clients[0] as FakeClient).mode = 'fail';
    w.iteration(sampleReport(), undefined);
    await w.flush();
    const reload = (over: Record<string, unknown>): void =>
      w.configure({ settings: settings(over) } as unknown as LoadedConfig);
    reload({ influxdb_url: ['http://127.0.0.1:8086#plancton', 'http://127.0.0.1:9999#other'], influxdb_queue_size: 4 });
    assert.equal(clients.length, 2, 'the unchanged URL kept its client');
    assert.deepEqual(
      w.stats().targets.map((t) => t.queued),
      [4, 0],
    );
    assert.equal(w.stats().dropped, PER_ITERATION - 4);
    reload({ influxdb_url: null });
    assert.deepEqual(w.targets, []);
    assert.equal(w.stats().dropped, PER_ITERATION, 'discarded points count as dropped; the counter never goes down');
    await w.close();
  });

  it('without influxdb_url it holds nothing', async () => {
    const { w, clients } = writerWith({ influxdb_url: null });
    w.iteration(sampleReport(), undefined);
    assert.equal(clients.length, 0);
    assert.equal(w.stats().queued, 0);
    await w.close();
  });
});

/** Accepts connections and never answers. */
async function hungServer(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  let count = 0;
  const server = createTcpServer((s) => {
    count++;
    sockets.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => count,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('InfluxWriter with the influx package, against local stand-in servers', () => {
  it('a hung server: the write times out, one connection and one request at a time', async () => {
    const hung = await hungServer();
    const log = memoryLogger();
    const w = new InfluxWriter(settings({ influxdb_url: `http://127.0.0.1:${hung.port}#plancton` }), {
      hostname: 'node1',
      logger: log.logger,
      writeTimeoutMs: 300,
      closeTimeoutMs: 200,
    });
    try {
      w.iteration(sampleReport(), undefined);
      const first = w.flush();
      for (let i = 0; i < 20; i++) void w.flush();
      await first;
      assert.equal(hung.connections(), 1);
      assert.equal(w.stats().writeErrors, 1);
      assert.match(log.text(), /timed out|hang up|ECONNRESET/i);
      await w.flush();
      assert.equal(w.stats().writeErrors, 2);
      assert.ok(hung.connections() <= 2);
    } finally {
      await w.close();
      await hung.close();
    }
  });

  it('a server that trickles its answer is cut off after twice the timeout', async () => {
    const timers: NodeJS.Timeout[] = [];
    const sockets: Socket[] = [];
    const server = createTcpServer((s) => {
      sockets.push(s);
      s.on('error', () => undefined);
      s.write('HTTP/1.1 204 No Content\r\n');
      timers.push(setInterval(() => s.write('X-Slow: 1\r\n'), 50));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const w = new InfluxWriter(settings({ influxdb_url: `http://127.0.0.1:${port}#plancton` }), {
      hostname: 'node1',
      logger: memoryLogger().logger,
      writeTimeoutMs: 300,
    });
    try {
      w.iteration(sampleReport(), undefined);
      const t0 = Date.now();
      await w.flush();
      assert.equal(w.stats().writeErrors, 1);
      assert.ok(Date.now() - t0 < 3000, `cut off after ${Date.now() - t0} ms`);
    } finally {
      await w.close();
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  it('sends line protocol with nanosecond precision and the credentials in the Authorization header only', async () => {
    const requests: Array<{ url: string; auth: string | undefined; body: string }> = [];
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        requests.push({ url: req.url ?? '', auth: req.headers.authorization, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const log = memoryLogger();
    const w = new InfluxWriter(
      settings({
        influxdb_url: `http://127.0.0.1:${port}#plancton`,
        influxdb_username: 'writer',
        influxdb_password: 's3cr3t-pw',
      }),
      { hostname: 'node1', logger: log.logger },
    );
    try {
      w.iteration(sampleReport(), undefined);
      w.removal(sampleRemoval({ killed: true, reason: 'ttl' }));
      await w.flush();
      assert.equal(requests.length, 1);
      const r = requests[0];
      assert.ok(r);
      assert.match(r.url, /^\/write\?db=plancton&precision=n/);
      assert.doesNotMatch(r.url, /s3cr3t/);
      assert.equal(r.auth, `Basic ${Buffer.from('writer:s3cr3t-pw').toString('base64')}`);
      const lines = r.body.split('\n');
      assert.ok(
        lines.includes(
          `daemon,hostname=node1 containers=2,status="active",uptime=90 ${sampleReport().updatedAt}000000`,
        ),
        r.body,
      );
      assert.ok(lines.includes(`measurement,hostname=node1 cpu_eff=60 ${sampleReport().updatedAt}000000`));
      assert.ok(
        lines.some((l) => l.startsWith('container,hostname=node1,killed=True,started=True uptime=600 ')),
        r.body,
      );
      assert.doesNotMatch(log.text(), /s3cr3t/);
    } finally {
      await w.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
