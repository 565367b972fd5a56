import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfluxWriter } from '../../../src/report/influx-writer.ts';
import { redact, resolveTargets, targetLabel } from '../../../src/report/influx-targets.ts';
import { memoryLogger, sampleReport } from '../../support/sample-report.ts';
import { selfSigned, type KeyPair } from '../../support/web-servers.ts';

const keys = (influxdb_url: string | string[] | null, influxdb_username = '', influxdb_password = '') => ({
  influxdb_url,
  influxdb_username,
  influxdb_password,
});

describe('InfluxDB targets and credentials', () => {
  it('credentials from the URL win over the separate keys; the label never shows them', () => {
    const [t] = resolveTargets(keys('http://u%40x:p%3Aw@db.example:8087#metrics', 'other', 'otherpw'));
    assert.equal(t?.target.username, 'u@x');
    assert.equal(t?.target.password, 'p:w');
    assert.equal(t?.target.database, 'metrics');
    assert.equal(t?.label, 'http://db.example:8087#metrics');
    assert.ok(t?.secrets.includes('p:w'));
  });

  it('separate keys apply to URLs without credentials; none when both are empty', () => {
    const [a, b] = resolveTargets(keys(['https://h:8086#d', 'http://h2#d2'], 'writer', 'pw'));
    assert.equal(a?.target.username, 'writer');
    assert.equal(a?.target.password, 'pw');
    assert.equal(b?.target.port, 8086);
    const [c] = resolveTargets(keys('http://h:1#d'));
    assert.equal(c?.target.username, undefined);
    assert.deepEqual(c?.secrets, []);
  });

  it('insecure_https: applies to its own URL only and shows in the label', () => {
    const [a, b] = resolveTargets(keys(['insecure_https:https://h:8443#d', 'https://h:8444#d']));
    assert.equal(a?.target.insecure, true);
    assert.equal(a?.label, 'insecure_https:https://h:8443#d');
    assert.equal(b?.target.insecure, false);
  });

  it('IPv6 hosts keep their brackets in the label', () => {
    const [t] = resolveTargets(keys('http://[::1]:8086#d'));
    assert.equal(targetLabel(t!.target), 'http://[::1]:8086#d');
  });

  it('a bad URL is refused with a message that names its position, never its credentials', () => {
    assert.throws(
      () => resolveTargets(keys(['http://h#d', 'ftp://user:hunter2@h#d'])),
      (err: Error) => {
        assert.match(err.message, /influxdb_url\[1\]/);
        assert.doesNotMatch(err.message, /hunter2|user/);
        return true;
      },
    );
  });

  it('changing only the password makes a different target (a reload reconnects)', () => {
    const [a] = resolveTargets(keys('http://h#d', 'u', 'one'));
    const [b] = resolveTargets(keys('http://h#d', 'u', 'two'));
    assert.notEqual(a?.key, b?.key);
  });

  it('redact() hides every secret, plain, URL-encoded and as Basic credentials', () => {
    const [t] = resolveTargets(keys('http://h#d', 'us er', 'p@ss'));
    const basic = Buffer.from('us er:p@ss').toString('base64');
    const text = redact(`a us er b p@ss c p%40ss d us%20er e Basic ${basic}`, t!.secrets);
    assert.doesNotMatch(text, /us er|p@ss|p%40ss|us%20er/);
    assert.ok(!text.includes(basic));
  });
});

describe('no secret in any log line, whatever InfluxDB answers', () => {
  let server: Server;
  let port = 0;
  before(async () => {
    // a hostile or broken server that echoes the credentials back in its error
    server = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () =>
        res.writeHead(401, { 'Content-Type': 'application/json' }).end(
          JSON.stringify({
            error: `authorization failed for ${req.headers.authorization ?? ''} ${Buffer.from((req.headers.authorization ?? '').slice(6), 'base64').toString()}`,
          }),
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  for (const [what, url, user, pw] of [
    ['credentials in the URL', (p: number) => `http://alice:Pa55word-in-url@127.0.0.1:${p}#plancton`, '', ''],
    ['credentials in the keys', (p: number) => `http://127.0.0.1:${p}#plancton`, 'alice', 'Pa55word-in-key'],
  ] as const) {
    it(`${what}: a 401 echoing them, and a refused connection`, async () => {
      const log = memoryLogger('debug');
      const refused = url(1).replace('127.0.0.1:1', '127.0.0.1:9');
      const w = new InfluxWriter(
        {
          influxdb_url: [url(port), refused],
          influxdb_username: user,
          influxdb_password: pw,
          influxdb_queue_size: 100,
          influxdb_flush_interval: 3600,
        },
        { hostname: 'node1', logger: log.logger },
      );
      w.iteration(sampleReport(), undefined);
      await w.flush();
      await w.flush();
      await w.close();
      const text = log.text();
      assert.match(text, /authorization failed/);
      assert.match(text, /127\.0\.0\.1:9#plancton/);
      assert.doesNotMatch(text, /Pa55word|alice/);
      assert.ok(!text.includes(Buffer.from(`alice:${pw || 'Pa55word-in-url'}`).toString('base64')));
    });
  }
});

/** A self-signed pair, or undefined when openssl is missing (the test is then skipped). */
function selfSignedOrNone(dir: string): KeyPair | undefined {
  try {
    return selfSigned(dir);
  } catch {
    return undefined;
  }
}

describe('insecure_https: skips TLS verification for that URL only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'plancton-tls-'));
  const pair = selfSignedOrNone(dir);
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(
    'writes to a self-signed server with insecure_https:, and refuses it without',
    { skip: pair ? false : 'openssl is missing' },
    async () => {
      let writes = 0;
      const server = createHttpsServer({ key: pair?.key, cert: pair?.cert }, (req, res) => {
        req.resume();
        req.on('end', () => {
          writes++;
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const p = (server.address() as AddressInfo).port;
      const log = memoryLogger();
      const w = new InfluxWriter(
        {
          influxdb_url: [`insecure_https:https://127.0.0.1:${p}#a`, `https://127.0.0.1:${p}#b`],
          influxdb_username: 'u',
          influxdb_password: 'tls-secret',
          influxdb_queue_size: 100,
          influxdb_flush_interval: 3600,
        },
        { hostname: 'node1', logger: log.logger },
      );
      try {
        w.iteration(sampleReport(), undefined);
        await w.flush();
        const [insecure, strict] = w.stats().targets;
        assert.equal(insecure?.queued, 0);
        assert.equal(writes, 1);
        assert.ok((strict?.queued ?? 0) > 0);
        assert.match(log.text(), /https:\/\/127\.0\.0\.1:\d+#b: write failed.*(self[- ]signed|certificate)/i);
        assert.doesNotMatch(log.text(), /tls-secret/);
      } finally {
        await w.close();
        await new Promise((resolve) => server.close(resolve));
      }
    },
  );
});
