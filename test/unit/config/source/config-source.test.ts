import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../../../../src/core/errors.ts';
import { ConfigSource } from '../../../../src/config/source/source.ts';
import type { Paths } from '../../../../src/config/source/paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'plancton-source-'));
const paths = (configFile: string, configRequired: boolean): Paths => ({
  runDir: dir,
  pidFile: join(dir, 'pid'),
  logDir: undefined,
  configFile,
  configRequired,
});

describe('ConfigSource from PLANCTON_CONF_URL', () => {
  let server: Server;
  let body = 'max_ttl: 100\n';
  let status = 200;
  let hits = 0;
  let url = '';
  before(async () => {
    server = createServer((req, res) => {
      hits++;
      res.writeHead(status, { 'content-type': 'text/yaml' });
      res.end(status === 200 ? body : 'oops');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/config.yaml`;
  });
  after(() => server.close());

  it('fetches, keeps the last good text when the server fails, and rejects a bad text without forgetting the good one', async () => {
    const warnings: string[] = [];
    const cacheFile = join(dir, 'cache-a.yaml');
    const src = new ConfigSource({
      paths: paths('/nonexistent.yaml', false),
      env: { PLANCTON_CONF_URL: url },
      args: [],
      cacheFile,
      onWarning: (m) => warnings.push(m),
    });
    assert.equal((await src.load()).settings.max_ttl, 100);
    status = 500;
    assert.equal((await src.load()).settings.max_ttl, 100, 'a failed fetch keeps the last good configuration');
    assert.match(warnings[0] ?? '', /HTTP 500.*keeping the last good/);
    status = 200;
    body = 'max_ttl: -5\n';
    await assert.rejects(src.load(), (e: unknown) => e instanceof ConfigError && e.problems[0]?.key === 'max_ttl');
    status = 500;
    assert.equal((await src.load()).settings.max_ttl, 100, 'the invalid text did not replace the good one');
    status = 200;
    body = 'max_ttl: 200\n';
    assert.equal((await src.load()).settings.max_ttl, 200);
  });

  it('a restart with the server down uses the cached last good text', async () => {
    const cacheFile = join(dir, 'cache-b.yaml');
    body = 'max_ttl: 300\n';
    status = 200;
    await new ConfigSource({ paths: paths('/x', false), env: { PLANCTON_CONF_URL: url }, args: [], cacheFile }).load();
    status = 503;
    const again = new ConfigSource({ paths: paths('/x', false), env: { PLANCTON_CONF_URL: url }, args: [], cacheFile });
    assert.equal((await again.load()).settings.max_ttl, 300);
    const none = new ConfigSource({
      paths: paths('/x', false),
      env: { PLANCTON_CONF_URL: url },
      args: [],
      cacheFile: join(dir, 'never.yaml'),
    });
    await assert.rejects(none.load(), /HTTP 503/);
  });

  it('re-fetches only every PLANCTON_CONF_UPDATE seconds; environment still wins over the fetched text', async () => {
    status = 200;
    body = 'max_ttl: 400\nmain_sleep: 9\n';
    let now = 1_000_000;
    const src = new ConfigSource({
      paths: paths('/x', false),
      env: { PLANCTON_CONF_URL: url, PLANCTON_CONF_UPDATE: '60', PLANCTON_MAIN_SLEEP: '3' },
      args: [],
      now: () => now,
    });
    const before = hits;
    const c = await src.load();
    assert.equal(c.settings.max_ttl, 400);
    assert.equal(c.settings.main_sleep, 3);
    now += 59_000;
    await src.load();
    assert.equal(hits, before + 1);
    now += 1_000;
    await src.load();
    assert.equal(hits, before + 2);
  });

  it('never shows the URL password', async () => {
    const src = new ConfigSource({
      paths: paths('/x', false),
      env: { PLANCTON_CONF_URL: 'http://user:s3cret@127.0.0.1:1/c.yaml' },
      args: [],
    });
    assert.doesNotMatch(src.description, /s3cret/);
    await assert.rejects(src.load(), (e: Error) => !e.message.includes('s3cret'));
  });
});

describe('ConfigSource from files', () => {
  it('uses PLANCTON_DEFAULT_CONFIG only when the implicit default file is absent', async () => {
    const fallback = join(dir, 'image-default.yaml');
    writeFileSync(fallback, 'max_docks: 1\n');
    const absent = new ConfigSource({
      paths: paths(join(dir, 'absent.yaml'), false),
      env: { PLANCTON_DEFAULT_CONFIG: fallback },
      args: [],
    });
    assert.equal((await absent.load()).source, fallback);
    const mounted = join(dir, 'mounted.yaml');
    writeFileSync(mounted, 'max_docks: 7\n');
    const present = new ConfigSource({
      paths: paths(mounted, false),
      env: { PLANCTON_DEFAULT_CONFIG: fallback },
      args: [],
    });
    assert.equal((await present.load()).source, mounted);
  });
});
