/**
 * `plancton bootstrap` (0.6's plancton-bootstrap) and the container's PLANCTON_CONF_GIT against
 * configuration repositories served by a real `git daemon` on loopback: clone, update, refusal
 * of a directory it did not make, --force, --dryrun, branches, an invalid commit never checked
 * out, and a failing update keeping the last good configuration.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ConfigError } from '../../src/core/errors.ts';
import { ConfigSource } from '../../src/config/source/source.ts';
import type { StatusReport } from '../../src/report/status.ts';
import { BIN, logRecords, pilotsOf, testConfig } from '../support/daemon.ts';
import { randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { GitServer } from '../support/git-server.ts';

const gitMissing = (await execa('git', ['--version'], { reject: false })).failed;
if (gitMissing && process.env.PLANCTON_REQUIRE_ENGINE === '1')
  throw new Error('PLANCTON_REQUIRE_ENGINE=1 but git is not installed (run .ci/setup/registry-setup.sh)');
const skip = gitMissing ? 'skipped: git is not installed' : false;

const tmp = mkdtempSync(join(tmpdir(), 'plancton-bootstrap-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
/** A configuration directory that does not exist yet. */
const newDir = (): string => join(tmp, `etc-${++n}`, 'plancton');

async function bootstrap(dir: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await execa('node', [BIN, 'bootstrap', ...args, '--config', join(dir, 'config.yaml')], {
    reject: false,
    timeout: 120_000,
  });
  return { code: r.exitCode ?? -1, out: String(r.stdout), err: String(r.stderr) };
}
const config = (dir: string): string => readFileSync(join(dir, 'config.yaml'), 'utf8');
const head = async (dir: string): Promise<string> =>
  (await execa('git', ['-C', dir, 'rev-parse', 'HEAD'])).stdout.trim();

describe('plancton bootstrap against a git daemon on loopback', { skip, timeout: 300_000 }, () => {
  const server = new GitServer();
  let base = '';

  before(async () => {
    await server.start();
    base = server.base;
    await server.create('alice/conf', { 'config.yaml': 'max_ttl: 1000\n', 'README.md': 'site configuration\n' });
    await server.commit(
      'alice/conf',
      { 'config.yaml': 'max_ttl: 2000\ndocker_cmd: /bin/sleep 5\n' },
      'dev configuration',
      'dev',
    );
  });
  after(() => server.cleanup());

  it('clones into an absent configuration directory, and says it is already there the second time', async () => {
    const dir = newDir();
    const r = await bootstrap(dir, 'alice/conf', '--git-base', base);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`cloned alice/conf \\([0-9a-f]{12}\\) into ${dir}`));
    assert.equal(config(dir), 'max_ttl: 1000\n');
    const again = await bootstrap(dir, 'alice/conf', '--git-base', base);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /already holds alice\/conf at [0-9a-f]{12}/);
  });

  it('clones a branch (user/repo:branch, the base from PLANCTON_CONF_GIT_BASE) and validates it with config check', async () => {
    const dir = newDir();
    const r = await execa('node', [BIN, 'bootstrap', 'alice/conf:dev', '--config', join(dir, 'config.yaml')], {
      reject: false,
      env: { PLANCTON_CONF_GIT_BASE: base },
    });
    assert.equal(r.exitCode, 0, String(r.stderr));
    assert.match(config(dir), /max_ttl: 2000/);
    const check = await execa('node', [BIN, 'config', 'check', '--config', join(dir, 'config.yaml')], {
      reject: false,
    });
    assert.equal(check.exitCode, 0, String(check.stderr));
  });

  it('updates its own clone to the new commit, and refuses an invalid one, keeping the last good checkout', async () => {
    const dir = newDir();
    assert.equal((await bootstrap(dir, 'alice/conf:dev', '--git-base', base)).code, 0);
    const next = await server.commit('alice/conf', { 'config.yaml': 'max_ttl: 3000\n' }, 'longer pilots', 'dev');
    const r = await bootstrap(dir, 'alice/conf:dev', '--git-base', base);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`updated alice/conf:dev \\(${next.slice(0, 12)}\\)`));
    assert.equal(config(dir), 'max_ttl: 3000\n');
    assert.equal(await head(dir), next);

    await server.commit('alice/conf', { 'config.yaml': 'max_ttl: -5\ncpu_policy: greedy\n' }, 'broken', 'dev');
    const bad = await bootstrap(dir, 'alice/conf:dev', '--git-base', base);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /configuration of alice\/conf:dev is INVALID/);
    assert.match(bad.err, /max_ttl: /);
    assert.match(bad.err, /cpu_policy: /);
    assert.equal(config(dir), 'max_ttl: 3000\n', 'the invalid commit is not checked out');
    assert.equal(await head(dir), next);
    await server.commit('alice/conf', { 'config.yaml': 'max_ttl: 3000\n' }, 'fixed', 'dev');
  });

  it('refuses a directory it did not make, and with --force moves it aside rather than deleting it', async () => {
    const dir = newDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.yaml'), 'max_ttl: 42\n');
    const r = await bootstrap(dir, 'alice/conf', '--git-base', base);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      new RegExp(`${dir} holds a configuration plancton bootstrap did not make \\(it is not a git clone\\).*--force`),
    );
    assert.equal(config(dir), 'max_ttl: 42\n');

    const forced = await bootstrap(dir, 'alice/conf', '--git-base', base, '--force');
    assert.equal(forced.code, 0, forced.err);
    const backup = /moved the previous .* to (\S+)/.exec(forced.out)?.[1] ?? '';
    assert.equal(readFileSync(join(backup, 'config.yaml'), 'utf8'), 'max_ttl: 42\n');
    assert.equal(config(dir), 'max_ttl: 1000\n');
  });

  it('refuses another git clone, and its own clone with local changes, unless --force', async () => {
    const other = newDir();
    await execa('git', ['clone', '--quiet', `${base}/alice/conf`, other]);
    const r = await bootstrap(other, 'alice/conf', '--git-base', base);
    assert.equal(r.code, 1);
    assert.match(r.err, /without the plancton\.bootstrap mark/);

    const dir = newDir();
    assert.equal((await bootstrap(dir, 'alice/conf', '--git-base', base)).code, 0);
    writeFileSync(join(dir, 'config.yaml'), 'max_ttl: 7\n');
    writeFileSync(join(dir, 'local-secret.json'), '{}');
    const dirty = await bootstrap(dir, 'alice/conf', '--git-base', base);
    assert.equal(dirty.code, 1);
    assert.match(dirty.err, /has local changes \(config\.yaml\)/);
    assert.equal(config(dir), 'max_ttl: 7\n');
    const forced = await bootstrap(dir, 'alice/conf', '--git-base', base, '--force');
    assert.equal(forced.code, 0, forced.err);
    assert.equal(config(dir), 'max_ttl: 1000\n');
    assert.match(forced.out, /moved the previous/);
  });

  it("--dryrun writes 0.6's empty configuration, which a later bootstrap replaces; a failing clone changes nothing", async () => {
    const dir = newDir();
    const r = await bootstrap(dir, '--dryrun');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /wrote an empty configuration/);
    const shown = await execa('node', [BIN, 'config', 'show', '--json', '--config', join(dir, 'config.yaml')]);
    const values = (JSON.parse(String(shown.stdout)) as { values: Record<string, unknown> }).values;
    assert.equal(values.docker_image, 'busybox');
    assert.equal(values.docker_cmd, '/bin/sleep 60');
    assert.match((await bootstrap(dir, '--dryrun')).out, /already holds --dryrun/);

    const missing = await bootstrap(dir, 'alice/nothing', '--git-base', base);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /git clone failed/);
    assert.match(config(dir), /plancton bootstrap --dryrun/, 'a failed clone leaves the directory as it was');

    const real = await bootstrap(dir, 'alice/conf', '--git-base', base);
    assert.equal(real.code, 0, real.err);
    assert.doesNotMatch(real.out, /moved the previous/, 'its own clean dry-run tree needs no backup');
    assert.equal(config(dir), 'max_ttl: 1000\n');
    assert.deepEqual(
      readdirSync(join(dir, '..')).filter((f) => f !== 'plancton'),
      [],
      'no temporary or backup directory is left',
    );

    const usage = await bootstrap(newDir(), '--dryrun', 'alice/conf');
    assert.equal(usage.code, 2);
    const bad = await bootstrap(newDir(), '--upload-pack=evil/x', '--git-base', base);
    assert.equal(bad.code, 2, 'an option look-alike is a usage error, never passed to git');
    const badSpec = await bootstrap(newDir(), 'not-a-repo', '--git-base', base);
    assert.equal(badSpec.code, 1);
    assert.match(badSpec.err, /not a configuration repository: write user\/repo\[:branch\]/);
  });

  it('PLANCTON_CONF_GIT: cloned at the first load, updated at the next, an invalid commit refused, an unreachable server keeps the last good configuration', async () => {
    await server.create('alice/fleet', { 'config.yaml': 'max_docks: 3\n' });
    const dir = newDir();
    const warnings: string[] = [];
    const env = { PLANCTON_CONF_GIT: 'alice/fleet', PLANCTON_CONF_GIT_BASE: base };
    const src = new ConfigSource({
      paths: {
        runDir: join(tmp, 'run'),
        pidFile: join(tmp, 'pid'),
        logDir: undefined,
        configFile: join(dir, 'config.yaml'),
        configRequired: false,
      },
      env,
      args: [],
      onWarning: (m) => warnings.push(m),
    });
    assert.equal(src.remote, true);
    assert.match(src.description, /config\.yaml \(git alice\/fleet from git:\/\/127\.0\.0\.1:\d+\)/);
    assert.equal((await src.load()).settings.max_docks, 3);

    await server.commit('alice/fleet', { 'config.yaml': 'max_docks: 5\n' });
    assert.equal((await src.load()).settings.max_docks, 5);

    await server.commit('alice/fleet', { 'config.yaml': 'max_docks: "ncpus +"\n' });
    await assert.rejects(
      src.load(),
      (err: ConfigError) => err instanceof ConfigError && err.problems.some((p) => p.key === 'max_docks'),
    );
    assert.equal(config(dir), 'max_docks: 5\n', 'the invalid commit is not checked out');

    await server.stop();
    try {
      assert.equal((await src.load()).settings.max_docks, 5);
      assert.match(warnings.at(-1) ?? '', /git fetch failed: .*keeping the last good configuration/);
      assert.ok(existsSync(join(dir, '.git')));
    } finally {
      await server.start();
    }
    await server.commit('alice/fleet', { 'config.yaml': 'max_docks: 6\n' });
    assert.equal((await src.load()).settings.max_docks, 6, 'back in step once the server answers');

    const both = new ConfigSource({
      paths: {
        runDir: tmp,
        pidFile: join(tmp, 'p'),
        logDir: undefined,
        configFile: join(newDir(), 'config.yaml'),
        configRequired: false,
      },
      env: { ...env, PLANCTON_CONF_URL: 'http://127.0.0.1:1/x' },
      args: [],
    });
    await assert.rejects(both.load(), /either PLANCTON_CONF_URL or PLANCTON_CONF_GIT/);
  });
});

const engineSkip = skip || (await requireEngine('busybox'));

describe('plancton run with PLANCTON_CONF_GIT on the real engine', { skip: engineSkip, timeout: 300_000 }, () => {
  const server = new GitServer();
  const instance = randomInstance();
  const dir = newDir();
  const runDir = join(tmp, `run-${instance}`);
  let daemon: ReturnType<typeof execa> | undefined;
  let log = '';
  const status = (): StatusReport | undefined => {
    try {
      return JSON.parse(readFileSync(join(runDir, 'status.json'), 'utf8')) as StatusReport;
    } catch {
      return undefined;
    }
  };
  const running = async (count: number): Promise<true | undefined> =>
    (await pilotsOf(instance, 'running')).length === count ? true : undefined;

  before(async () => {
    await server.start();
    await server.create('site/pilots', { 'config.yaml': testConfig(instance, { max_docks: 1 }) });
  });
  after(async () => {
    daemon?.kill('SIGKILL');
    await daemon?.catch(() => undefined);
    await removeByLabel(`org.plancton.instance=${instance}`);
    await server.cleanup();
  });

  it('runs on the cloned configuration, follows new commits, keeps the last good one on an invalid commit or a server that is down', async () => {
    daemon = execa('node', [BIN, 'run', '--config', join(dir, 'config.yaml'), '--run-dir', runDir], {
      reject: false,
      all: true,
      env: { PLANCTON_CONF_GIT: 'site/pilots', PLANCTON_CONF_GIT_BASE: server.base },
    });
    daemon.all?.on('data', (c: Buffer) => void (log += c.toString()));
    let exited = false;
    void daemon.finally(() => void (exited = true));
    await waitFor('one pilot from the cloned configuration', () => running(1), 60_000);
    // the status file is written once the pass that started the pilot is recorded
    const source = await waitFor('the status file written', () => status()?.config.source, 30_000);
    assert.match(source, /config\.yaml$/);

    await server.commit('site/pilots', { 'config.yaml': testConfig(instance, { max_docks: 2 }) }, 'two pilots');
    await waitFor('two pilots after the new commit', () => running(2), 60_000);

    await server.commit('site/pilots', { 'config.yaml': testConfig(instance, { max_docks: 'ncpus +' }) }, 'broken');
    const error = await waitFor('the invalid commit reported in status', () => status()?.config.reloadError, 60_000);
    assert.match(error, /max_docks/);
    assert.match(config(dir), /max_docks: 2/, 'the invalid commit is not checked out');
    assert.equal((await pilotsOf(instance, 'running')).length, 2);

    await server.stop();
    await waitFor(
      'a failed fetch logged, the last good configuration kept',
      () =>
        logRecords(log).find(
          (r) =>
            r.level === 'warn' && /git fetch failed: .*keeping the last good configuration/.test(String(r.message)),
        ),
      60_000,
    );
    assert.equal((await pilotsOf(instance, 'running')).length, 2);
    assert.equal(exited, false, 'the daemon keeps running');
    await server.start();
  });
});
