import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigError } from '../../../src/core/errors.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { credentialsIn, normalizeRegistry, parseDockerConfig, registryOf } from '../../../src/config/registry-auth.ts';
import { pullAuthFor } from '../../../src/config/registry-auth-file.ts';
import { masked } from '../../../src/cli/cmd-config.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'plancton-regauth-'));
const SECRET = 's3cr3t-P4ss';
const none = { registry_auth_file: '', registry_username: '', registry_password: '' };

describe('registryOf: the registry Docker pulls an image from', () => {
  const cases: Array<[string, string]> = [
    ['busybox', 'docker.io'],
    ['busybox:1.36', 'docker.io'],
    ['library/busybox', 'docker.io'],
    ['htcondor/execute:23', 'docker.io'],
    ['docker.io/library/busybox', 'docker.io'],
    ['index.docker.io/x/y', 'docker.io'],
    ['127.0.0.1:5000/pilots/htcondor:1', '127.0.0.1:5000'],
    ['localhost/pilot', 'localhost'],
    ['registry.example.org/a/b/c@sha256:00', 'registry.example.org'],
    ['Registry.Example.org:443/a', 'registry.example.org:443'],
  ];
  for (const [image, registry] of cases) it(`${image} -> ${registry}`, () => assert.equal(registryOf(image), registry));

  it("normalises auths keys written with a scheme or a path, and Docker Hub's aliases", () => {
    assert.equal(normalizeRegistry('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normalizeRegistry('http://127.0.0.1:5000/v2/'), '127.0.0.1:5000');
    assert.equal(normalizeRegistry('127.0.0.1:5000'), '127.0.0.1:5000');
  });
});

describe('parseDockerConfig', () => {
  it('reads base64 auth, username/password and identity tokens, keyed by registry', () => {
    const cfg = parseDockerConfig(
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: b64(`hub:${SECRET}:with:colons`) },
          'http://127.0.0.1:5000': { username: 'alice', password: SECRET },
          'ghcr.io': { identitytoken: 'tok' },
          'empty.example': {},
        },
      }),
      'f.json',
    );
    assert.deepEqual(cfg.auths.get('docker.io'), {
      username: 'hub',
      password: `${SECRET}:with:colons`,
      serveraddress: 'https://index.docker.io/v1/',
    });
    assert.deepEqual(cfg.auths.get('127.0.0.1:5000'), {
      username: 'alice',
      password: SECRET,
      serveraddress: '127.0.0.1:5000',
    });
    assert.deepEqual(cfg.auths.get('ghcr.io'), { identitytoken: 'tok', serveraddress: 'ghcr.io' });
    assert.equal(cfg.auths.has('empty.example'), false);
  });

  it('names the file and the registry on bad entries, never the secret', () => {
    const bad = [
      [
        `{"auths": {"r.example": {"auth": "${SECRET}"}}}`,
        /f\.json: "auth" of registry r\.example is not base64 of user:password/,
      ],
      [`{"auths": {"r.example": {"username": "u"}}}`, /registry r\.example needs both "username" and "password"/],
      [`{"auths": {"r.example": {"password": "${SECRET}",}}}`, /f\.json: not valid JSON \(at line 1, column \d+\)/],
      ['[]', /must be a JSON object with "auths"/],
      ['{"auths": []}', /"auths" must be an object/],
    ] as const;
    for (const [text, re] of bad) {
      assert.throws(
        () => parseDockerConfig(text, 'f.json'),
        (err: Error) => {
          assert.match(err.message, re);
          assert.ok(!err.message.includes(SECRET), `no secret in: ${err.message}`);
          return true;
        },
      );
    }
  });

  it("says which credential helper holds a registry's credentials, as Plancton cannot run one", () => {
    const cfg = parseDockerConfig(
      '{"auths": {"a.example": {}}, "credsStore": "desktop", "credHelpers": {"b.example": "ecr-login"}}',
      'f.json',
    );
    assert.throws(
      () => credentialsIn(cfg, 'b.example', 'f.json'),
      /registry b\.example are kept by the credential helper "ecr-login"/,
    );
    assert.throws(() => credentialsIn(cfg, 'a.example', 'f.json'), /credential helper "desktop"/);
    assert.equal(credentialsIn(parseDockerConfig('{"auths": {}}', 'f.json'), 'c.example', 'f.json'), undefined);
  });
});

describe('pullAuthFor and the configuration keys', () => {
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ auths: { '127.0.0.1:5000': { auth: b64(`alice:${SECRET}`) } } }));

  it("takes the registry's entry from registry_auth_file, none for another registry", async () => {
    const a = await pullAuthFor('127.0.0.1:5000/p/pilot:1', { ...none, registry_auth_file: file });
    assert.deepEqual(a, {
      registry: '127.0.0.1:5000',
      auth: { username: 'alice', password: SECRET, serveraddress: '127.0.0.1:5000' },
      from: `user alice from ${file}`,
    });
    assert.deepEqual(await pullAuthFor('busybox', { ...none, registry_auth_file: file }), { registry: 'docker.io' });
    assert.deepEqual(await pullAuthFor('busybox', none), { registry: 'docker.io' });
  });

  it('prefers registry_username/registry_password, and names the registry when the file cannot be read', async () => {
    const a = await pullAuthFor('127.0.0.1:5000/p/pilot:1', {
      registry_auth_file: file,
      registry_username: 'bob',
      registry_password: 'other',
    });
    assert.equal(a.auth?.username, 'bob');
    assert.equal(a.from, 'user bob from registry_username/registry_password');
    await assert.rejects(
      pullAuthFor('127.0.0.1:5000/p/pilot:1', { ...none, registry_auth_file: join(dir, 'missing.json') }),
      /credentials for registry 127\.0\.0\.1:5000: cannot read registry_auth_file .*missing\.json: ENOENT/,
    );
  });

  it('validates the keys at load: a half-given pair and a bad file are named; config show masks the password', () => {
    const load = (extra: Record<string, string>) =>
      loadConfig({
        text: Object.entries(extra)
          .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
          .join('\n'),
        env: {},
        args: [],
      });
    assert.throws(
      () => load({ registry_username: 'alice' }),
      (err: ConfigError) =>
        err.problems.some((p) => p.key === 'registry_password' && /together with registry_username/.test(p.message)),
    );
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, `{"auths": {"x.example": {"auth": "${SECRET}"}}}`);
    assert.throws(
      () => load({ registry_auth_file: broken }),
      (err: ConfigError) => {
        const p = err.problems.find((q) => q.key === 'registry_auth_file');
        assert.match(p?.message ?? '', /registry x\.example is not base64/);
        assert.ok(!JSON.stringify(err.problems).includes(SECRET));
        return true;
      },
    );
    assert.throws(
      () => load({ registry_auth_file: join(dir, 'nope.json') }),
      (err: ConfigError) => err.problems.some((p) => p.key === 'registry_auth_file' && /ENOENT/.test(p.message)),
    );
    const ok = load({ registry_auth_file: file, registry_username: 'alice', registry_password: SECRET });
    const shown = JSON.stringify(masked(ok));
    assert.ok(!shown.includes(SECRET), shown);
    assert.equal(masked(ok).registry_password, '***');
    assert.equal(masked(ok).registry_auth_file, file);
  });
});
