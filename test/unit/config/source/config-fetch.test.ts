import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FetchError, fetchText } from '../../../../src/config/source/fetch-text.ts';
import { maskSecrets, maskUrl } from '../../../../src/config/source/mask.ts';
import { ConfigSource } from '../../../../src/config/source/source.ts';
import type { Paths } from '../../../../src/config/source/paths.ts';
import { startWebServers, type WebServers } from '../../../support/web-servers.ts';

const dir = mkdtempSync(join(tmpdir(), 'plancton-fetch-'));
const paths: Paths = {
  runDir: dir,
  pidFile: join(dir, 'pid'),
  logDir: undefined,
  configFile: join(dir, 'absent.yaml'),
  configRequired: false,
};
const timers: NodeJS.Timeout[] = [];

/** One server whose behaviour is chosen by the path. */
function handler(req: { url?: string | undefined }, res: ServerResponse, httpBase: string): void {
  switch (req.url) {
    case '/ok':
      res.writeHead(200).end('max_ttl: 100\n');
      return;
    case '/drip': {
      res.writeHead(200, { 'content-type': 'text/yaml' });
      const t = setInterval(() => res.write('#'), 2000);
      timers.push(t);
      res.on('close', () => clearInterval(t));
      return;
    }
    case '/big': {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 0x23);
      for (let i = 0; i < 40; i++) res.write(chunk);
      res.end();
      return;
    }
    case '/declared-big':
      res.writeHead(200, { 'content-length': String(50 * 1024 * 1024) }).end();
      return;
    case '/to-http':
      res.writeHead(302, { location: `${httpBase}/ok` }).end();
      return;
    case '/loop':
      res.writeHead(302, { location: '/loop' }).end();
      return;
    case '/garbage':
      res.writeHead(200).end('\u0000\u0001: [[[ {{{\n: :');
      return;
    default:
      res.writeHead(404).end();
  }
}

describe('fetching the configuration URL', () => {
  let servers: WebServers;
  let h = '';
  let s = '';
  before(async () => {
    servers = await startWebServers(dir, (req, res) => handler(req, res, h));
    [h, s] = [servers.http, servers.https];
  });
  after(async () => {
    timers.forEach(clearInterval);
    await servers.close();
  });

  it('takes https, and plain http only on loopback or with the explicit opt-in', async () => {
    assert.equal(await fetchText(`${s}/ok`, { insecureTls: true }), 'max_ttl: 100\n');
    assert.equal(await fetchText(`${h}/ok`), 'max_ttl: 100\n');
    await assert.rejects(
      fetchText('http://config.example.invalid/c.yaml'),
      (e: Error) => e instanceof FetchError && /use https.*PLANCTON_CONF_ALLOW_HTTP=1/.test(e.message),
    );
    await assert.rejects(
      fetchText('http://config.example.invalid/c.yaml', { allowHttp: true, deadlineMs: 20_000 }),
      (e: Error) => e instanceof FetchError && !/use https/.test(e.message),
    );
    await assert.rejects(fetchText('file:///etc/passwd'), /unsupported protocol file:/);
  });
  it('refuses a redirect from https to http, even to loopback and with the opt-in', async () => {
    await assert.rejects(
      fetchText(`${s}/to-http`, { insecureTls: true, allowHttp: true }),
      /refused a redirect from https to plain http/,
    );
  });
  it('stops after 5 redirects', async () => {
    await assert.rejects(fetchText(`${h}/loop`), /more than 5 redirects/);
  });
  it('a server sending a byte every 2 s fails at the total deadline', async () => {
    await assert.rejects(fetchText(`${h}/drip`, { deadlineMs: 3000 }), /no complete answer within 3 s/);
  });
  it('a stop aborts a fetch in flight', async () => {
    const ac = new AbortController();
    const p = fetchText(`${h}/drip`, { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(p, /aborted/);
  });
  it('caps the body while it streams, and a declared length at once', async () => {
    await assert.rejects(fetchText(`${h}/big`), /larger than 1048576 bytes/);
    await assert.rejects(fetchText(`${h}/declared-big`), /larger than 1048576 bytes/);
  });

  it('the cache is keyed by URL: after caching A, an unreachable B fails instead of showing A', async () => {
    const cacheFile = join(dir, 'cache.yaml');
    const a = new ConfigSource({ paths, env: { PLANCTON_CONF_URL: `${h}/ok` }, args: [], cacheFile });
    assert.equal((await a.load()).settings.max_ttl, 100);
    const b = new ConfigSource({ paths, env: { PLANCTON_CONF_URL: `${h}/missing` }, args: [], cacheFile });
    await assert.rejects(b.load(), /HTTP 404/);
    assert.match(
      readFileSync(cacheFile, 'utf8'),
      /^# plancton config cache of url-sha256:[0-9a-f]{64}\nmax_ttl: 100\n$/,
    );
  });
  it('config check (strict) reports a fetch failure as one, never the cached text', async () => {
    const cacheFile = join(dir, 'cache-strict.yaml');
    await new ConfigSource({ paths, env: { PLANCTON_CONF_URL: `${h}/ok` }, args: [], cacheFile }).load();
    const failing = { PLANCTON_CONF_URL: `${h}/ok?x=1` };
    await assert.rejects(
      new ConfigSource({ paths, env: failing, args: [], cacheFile, strict: true }).load(),
      (e: Error) => e instanceof FetchError,
    );
  });
  it('a failed fetch that falls back to the cache says so in the warnings', async () => {
    const cacheFile = join(dir, 'cache-warn.yaml');
    const url = `${h}/ok`;
    await new ConfigSource({ paths, env: { PLANCTON_CONF_URL: url }, args: [], cacheFile }).load();
    const text = readFileSync(cacheFile, 'utf8');
    // the server no longer serves it: a cache made for the failing URL stands in for one made before it failed
    const failingUrl = `${h}/gone`;
    writeFileSync(
      cacheFile,
      text.replace(
        /url-sha256:[0-9a-f]+/,
        `url-sha256:${(await import('node:crypto')).createHash('sha256').update(failingUrl).digest('hex')}`,
      ),
    );
    const c = await new ConfigSource({ paths, env: { PLANCTON_CONF_URL: failingUrl }, args: [], cacheFile }).load();
    assert.equal(c.settings.max_ttl, 100);
    assert.match(c.warnings.join('\n'), /HTTP 404; keeping the last good configuration/);
  });
  it('the cache is written without following a planted symlink', async () => {
    const target = join(dir, 'victim');
    writeFileSync(target, 'precious\n');
    const cacheFile = join(dir, 'cache-link.yaml');
    symlinkSync(target, cacheFile);
    await new ConfigSource({ paths, env: { PLANCTON_CONF_URL: `${h}/ok` }, args: [], cacheFile }).load();
    assert.equal(readFileSync(target, 'utf8'), 'precious\n');
    assert.match(readFileSync(cacheFile, 'utf8'), /max_ttl: 100/);
  });
  it('garbage from the server is a configuration error naming the URL, not a crash', async () => {
    await assert.rejects(
      new ConfigSource({ paths, env: { PLANCTON_CONF_URL: `${h}/garbage` }, args: [] }).load(),
      (e: Error) => e.name === 'ConfigError' && e.message.includes(`${h}/garbage`),
    );
  });
  it('PLANCTON_CONF_UPDATE and PLANCTON_CONF_TIMEOUT have bounds', async () => {
    await assert.rejects(
      new ConfigSource({ paths, env: { PLANCTON_CONF_URL: `${h}/ok`, PLANCTON_CONF_UPDATE: '1e12' }, args: [] }).load(),
      /PLANCTON_CONF_UPDATE: must be a number of seconds/,
    );
    await assert.rejects(
      new ConfigSource({ paths, env: { PLANCTON_CONF_URL: `${h}/ok`, PLANCTON_CONF_TIMEOUT: '0' }, args: [] }).load(),
      /PLANCTON_CONF_TIMEOUT/,
    );
  });
});

describe('masking credentials', () => {
  const cases: Array<[string, string]> = [
    ['https://user:p@ss@host/c.yaml', 'https://user:***@host/c.yaml'],
    ['https://user:p@s/s@w@host:8443/c.yaml', 'https://user:***@host:8443/c.yaml'],
    ['https://host/c.yaml?token=abc123&v=2', 'https://host/c.yaml?token=***&v=2'],
    [
      'https://host/c?access_token=a&X-Amz-Signature=b&X-Amz-Credential=c&page=1#frag',
      'https://host/c?access_token=***&X-Amz-Signature=***&X-Amz-Credential=***&page=1#frag',
    ],
    ['http://u:pw@127.0.0.1:8086#db', 'http://u:***@127.0.0.1:8086#db'],
    ['https://ghp_0123456789abcdefghijklmnop@github.example/x', 'https://***@github.example/x'],
    ['https://host/plain.yaml', 'https://host/plain.yaml'],
    ['insecure_https:https://a:b@h:1#d', 'insecure_https:https://a:***@h:1#d'],
  ];
  for (const [url, masked] of cases) it(url, () => assert.equal(maskUrl(url), masked));
  it('masks every URL inside a message', () => {
    assert.equal(
      maskSecrets('GET https://a:b@c@h/x?key=k failed; see http://x:y@z'),
      'GET https://a:***@h/x?key=*** failed; see http://x:***@z',
    );
  });
  it('a failed fetch never shows the password or the token', async () => {
    await assert.rejects(
      fetchText('https://user:s3cr@t@127.0.0.1:1/c.yaml?token=t0k3n', { deadlineMs: 5000 }),
      (e: Error) => !/s3cr|t0k3n/.test(e.message),
    );
  });
});
