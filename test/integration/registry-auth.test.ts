/**
 * Private pilot images against a real registry on loopback (Debian's docker-registry with
 * htpasswd): pulled with credentials from a Docker config.json or from the configuration keys,
 * refused without, a wrong password and an unreachable registry reported by name, pilots still
 * started from the image already present, and the password in no output at all.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { EngineError } from '../../src/core/errors.ts';
import { pullAuthFor } from '../../src/config/registry-auth-file.ts';
import { DockerEngine } from '../../src/engine/docker-engine.ts';
import { randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { BIN, DaemonProcess, logRecords, pilotsOf, testConfig } from '../support/daemon.ts';
import { freePort, registryMissing, TestRegistry } from '../support/registry.ts';

const USER = 'alice';
const PASSWORD = `Right-${randomInstance()}`;
const WRONG = `Wrong-${randomInstance()}`;
const b64 = (s: string): string => Buffer.from(s).toString('base64');
/** Every form in which a password could leak: plain, and base64 as config.json and basic auth carry it. */
const SECRETS = [PASSWORD, WRONG, b64(`${USER}:${PASSWORD}`), b64(`${USER}:${WRONG}`)];

const missing = await registryMissing();
if (missing && process.env.PLANCTON_REQUIRE_ENGINE === '1') throw new Error(`PLANCTON_REQUIRE_ENGINE=1 but ${missing}`);
const skip = missing ? `skipped: ${missing}` : await requireEngine('busybox:latest');
const instance = randomInstance();
const none = { registry_auth_file: '', registry_username: '', registry_password: '' };

function assertNoSecret(where: string, text: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `a password (or its base64) appears in ${where}`);
}

describe('private pilot images from a registry with htpasswd auth', { skip, timeout: 300_000 }, () => {
  const registry = new TestRegistry();
  let image = '';
  let authFile = '';
  const engine = new DockerEngine();
  const rmi = (): Promise<unknown> => execa('docker', ['rmi', image], { reject: false });
  const writeAuth = (password: string): void => {
    const next = `${authFile}.next`;
    writeFileSync(next, JSON.stringify({ auths: { [registry.host]: { auth: b64(`${USER}:${password}`) } } }), {
      mode: 0o600,
    });
    renameSync(next, authFile);
  };

  before(async () => {
    await registry.start(USER, PASSWORD);
    image = await registry.push('busybox:latest', `plancton-test/private-${instance}:1`, USER, PASSWORD);
    authFile = join(registry.dir, 'registry-auth.json');
    writeAuth(PASSWORD);
  });

  after(async () => {
    await removeByLabel(`org.plancton.instance=${instance}`);
    if (image) await rmi();
    await registry.stop();
  });

  it('is refused without credentials, with an error naming the registry', async () => {
    const source = await pullAuthFor(image, none);
    assert.equal(source.registry, registry.host);
    await assert.rejects(engine.pull(image, { source }), (err: EngineError) => {
      assert.ok(err instanceof EngineError);
      assert.ok(err.message.includes(`from registry ${registry.host} without credentials failed`), err.message);
      return true;
    });
    assert.equal(await engine.imagePresent(image), false);
  });

  it('reports a wrong password by registry and user, and never shows it', async () => {
    const source = await pullAuthFor(image, { ...none, registry_username: USER, registry_password: WRONG });
    await assert.rejects(engine.pull(image, { source }), (err: EngineError) => {
      assert.ok(
        err.message.includes(
          `from registry ${registry.host} with the credentials of user ${USER} from registry_username/registry_password failed`,
        ),
        err.message,
      );
      assert.match(err.message, /unauthorized/);
      assertNoSecret('the error', `${err.message} ${String(err.stack)} ${JSON.stringify(err.cause ?? null)}`);
      return true;
    });
    assert.equal(await engine.imagePresent(image), false);
  });

  it('reports an unreachable registry by name', async () => {
    const gone = `127.0.0.1:${await freePort()}`;
    const other = `${gone}/plancton-test/none:1`;
    await assert.rejects(
      engine.pull(other, {
        source: await pullAuthFor(other, { ...none, registry_username: USER, registry_password: PASSWORD }),
      }),
      (err: EngineError) => {
        assert.ok(err.message.includes(`from registry ${gone} with the credentials of user ${USER}`), err.message);
        assert.match(err.message, /connection refused/);
        return true;
      },
    );
  });

  it('pulls with the username and password of the configuration keys', async () => {
    await engine.pull(image, {
      source: await pullAuthFor(image, { ...none, registry_username: USER, registry_password: PASSWORD }),
    });
    assert.equal(await engine.imagePresent(image), true);
    await rmi();
  });

  it('the daemon pulls with registry_auth_file, keeps starting pilots from the present image when the password goes wrong, and shows no password anywhere', async () => {
    const port = await freePort();
    const config = (maxDocks: number): string =>
      testConfig(instance, {
        docker_image: image,
        registry_auth_file: authFile,
        max_docks: maxDocks,
        image_expiration: 2,
        pull_retry: 1,
        metrics_listen: `127.0.0.1:${port}`,
      });
    assert.equal(await engine.imagePresent(image), false, 'the image must come from the registry');
    const d = new DaemonProcess(config(1)).start();
    try {
      await waitFor(
        'a pilot of the private image',
        async () => ((await pilotsOf(instance, 'running')).length === 1 ? true : undefined),
        60_000,
      );
      const pulled = logRecords(d.log).find((r) => r.message === 'pulled pilot image');
      assert.equal(pulled?.image, image);
      const pulling = logRecords(d.log).find((r) => r.message === 'pulling pilot image');
      assert.equal(pulling?.credentials, `user ${USER} from ${authFile}`);

      // the password is changed on the registry side (here: the file now holds a wrong one); the image expires
      writeAuth(WRONG);
      const failure = await waitFor(
        'a failed pull naming the registry',
        () =>
          logRecords(d.log).find(
            (r) =>
              r.level === 'error' && String(r.message).includes(`pull image ${image} from registry ${registry.host}`),
          ),
        60_000,
      );
      assert.match(
        String(failure.message),
        new RegExp(`with the credentials of user ${USER} from ${authFile} failed: .*unauthorized`),
      );
      // pilots keep starting from the image already present
      d.writeConfig(config(2));
      await waitFor(
        'a second pilot from the present image',
        async () => ((await pilotsOf(instance, 'running')).length === 2 ? true : undefined),
        60_000,
      );
      const failuresBefore = logRecords(d.log).filter(
        (r) => r.level === 'error' && String(r.message).includes(registry.host),
      ).length;
      assert.ok(failuresBefore >= 1);

      const env = { PLANCTON_REGISTRY_USERNAME: USER, PLANCTON_REGISTRY_PASSWORD: PASSWORD };
      const show = await execa('node', [BIN, 'config', 'show', '--config', d.configFile], { env, reject: false });
      assert.equal(show.exitCode, 0, show.stderr);
      assert.match(show.stdout, /registry_password: "\*\*\*"/);
      const showJson = await execa('node', [BIN, 'config', 'show', '--json', '--config', d.configFile], {
        env,
        reject: false,
      });
      const status = await d.cli('status', '--json');
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
      const statusHttp = await fetch(`http://127.0.0.1:${port}/status`).then((r) => r.text());
      for (const [where, text] of [
        ['the daemon log', d.log],
        ['config show', show.stdout + show.stderr],
        ['config show --json', showJson.stdout + showJson.stderr],
        ['status --json', status.stdout + status.stderr],
        ['/metrics', metrics],
        ['/status', statusHttp],
      ] as const)
        assertNoSecret(where, text);
    } finally {
      await d.kill();
    }
    assertNoSecret('the daemon log', d.log);
  });
});
