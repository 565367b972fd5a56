/**
 * What the packaging promises, read from the files themselves (no engine needed): the README's
 * quick-start lines keep the flags the image needs, the Dockerfile keeps its contract with the
 * daemon, the Compose file keeps what v1 and v2 both read.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { ROOT, imageOf, nameOf, quickStart, readmeCommands, runWords, variantArgs } from '../support/image.ts';

const read = (path: string): string => readFileSync(resolve(ROOT, path), 'utf8');

describe('README quick-start blocks', () => {
  it('parses indented, fenced and prompted blocks with continuations', () => {
    const readme = [
      'text',
      '<!-- docker-run:start -->',
      '```sh',
      '$ docker build -t plancton .',
      '# a comment',
      'docker run -d --name plancton \\',
      '    -v /a:/b:ro \\',
      '    plancton',
      '```',
      '<!-- docker-run:end -->',
      '',
      '<!-- compose-up:start -->',
      '',
      '    cd compose && docker compose up -d',
      '',
      '<!-- compose-up:end -->',
    ].join('\n');
    assert.deepEqual(quickStart(readme), {
      build: 'docker build -t plancton .',
      run: 'docker run -d --name plancton -v /a:/b:ro plancton',
    });
    assert.deepEqual(readmeCommands('compose-up', readme), { commands: ['cd compose && docker compose up -d'] });
  });

  it('a README without the markers, or with an empty block, fails the verbatim tests instead of falling back', () => {
    assert.throws(() => readmeCommands('compose-up', 'no markers'), /no <!-- compose-up:start -->/);
    assert.throws(
      () => quickStart('<!-- compose-up:start -->\ncd compose && docker compose up -d\n<!-- compose-up:end -->'),
      /no <!-- docker-run:start -->/,
    );
    assert.throws(
      () => readmeCommands('compose-up', '<!-- compose-up:start -->\n```sh\n```\n<!-- compose-up:end -->'),
      /holds no command/,
    );
    assert.throws(
      () => readmeCommands('docker-run', '<!-- docker-run:end --> <!-- docker-run:start -->'),
      /no <!-- docker-run:start -->/,
    );
  });

  it('varies a run line: another name, options before the image', () => {
    const line = 'docker run -d --name plancton --privileged -v /x:/y plancton';
    assert.equal(nameOf(line), 'plancton');
    assert.equal(imageOf(line), 'plancton');
    assert.deepEqual(variantArgs(line, 'other', ['-e', 'A=1']), [
      'run',
      '-d',
      '--name',
      'other',
      '--privileged',
      '-v',
      '/x:/y',
      '-e',
      'A=1',
      'plancton',
    ]);
    assert.throws(() => runWords('docker run -e "A=b c" plancton'), /shell parsing/);
  });

  it('the docker run line has what the image needs', () => {
    const { run } = quickStart();
    const words = runWords(run);
    for (const flag of ['-d', '--privileged', '--restart']) assert.ok(words.includes(flag), `${flag} in ${run}`);
    for (const volume of [
      '/var/run/docker.sock:/var/run/docker.sock',
      '/proc:/host/proc:ro',
      '/sys/fs/cgroup:/sys/fs/cgroup',
    ]) {
      assert.ok(words.includes(volume), `-v ${volume} in ${run}`);
    }
    assert.equal(nameOf(run), 'plancton', 'the name the README and the tests `docker exec` into');
    assert.equal(imageOf(run), 'plancton');
    assert.match(quickStart().build, /^docker build -t plancton \.$/);
  });

  it('the compose block brings the Compose project up', () => {
    const { commands } = readmeCommands('compose-up');
    assert.ok(
      commands.some((c) => /docker compose up -d/.test(c)),
      commands.join('; '),
    );
  });
});

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  const lines = text.split('\n').filter((l) => !l.startsWith('#'));

  it('takes its base from NODE_IMAGE, an official Node 24 image by default, in every stage', () => {
    assert.match(text, /^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    const froms = lines.filter((l) => l.startsWith('FROM '));
    assert.equal(froms.length, 2, 'a build stage and a runtime stage');
    for (const f of froms) assert.match(f, /^FROM \$\{NODE_IMAGE\}/);
  });

  it('keeps its contract with the daemon', () => {
    assert.match(text, /^ENTRYPOINT \["tini", "--", "plancton"\]$/m);
    assert.match(text, /^CMD \["run"\]$/m);
    assert.match(text, /^STOPSIGNAL SIGTERM$/m);
    assert.match(text, /^HEALTHCHECK .*CMD \["plancton", "health"\]$/m);
    assert.match(text, /org\.plancton\.self="true"/);
    assert.match(text, /PLANCTON_HOST_PROC=\/host\/proc/);
    assert.match(text, /PLANCTON_DEFAULT_CONFIG=\/opt\/plancton\/config\/container-default\.yaml/);
    for (const label of ['title', 'description', 'licenses', 'version', 'revision', 'base.name']) {
      assert.match(text, new RegExp(`org\\.opencontainers\\.image\\.${label.replace('.', '\\.')}=`));
    }
  });

  it('builds without install scripts and ships production dependencies only', () => {
    assert.match(text, /npm ci --ignore-scripts/);
    assert.match(text, /npm prune --omit=dev/);
  });

  it('.dockerignore lets in only what the build reads', () => {
    const entries = read('.dockerignore')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    assert.equal(entries[0], '*', 'an allow list');
    for (const e of [
      '!package.json',
      '!package-lock.json',
      '!tsconfig.json',
      '!tsconfig.build.json',
      '!src',
      '!config',
    ])
      assert.ok(entries.includes(e), e);
    for (const e of entries) assert.doesNotMatch(e, /node_modules|dist|\.git|test/, e);
  });

  it('the embedded default configuration is valid and starts pilots on a 2-CPU machine', () => {
    const loaded = loadConfig({
      file: resolve(ROOT, 'config/container-default.yaml'),
      fileRequired: true,
      env: {},
      args: [],
    });
    assert.deepEqual(loaded.warnings, []);
    assert.equal(loaded.settings.docker_image, 'busybox');
    assert.equal(
      loaded.pools[0]?.maxDocks.evaluate({
        ncpus: 2,
        ram_bytes: 2 ** 33,
        swap_bytes: 0,
        max_dock_mem: 1,
        max_dock_swap: 0,
      }),
      1,
    );
  });
});

describe('compose/docker-compose.yml', () => {
  type Service = Record<string, unknown> & {
    environment?: Record<string, string | null>;
    volumes?: string[];
    profiles?: string[];
  };
  const file = parseYaml(read('compose/docker-compose.yml'), { merge: true }) as {
    services: Record<string, Service>;
    name?: unknown;
    version?: unknown;
  };
  const plancton = file.services.plancton ?? {};

  it('uses nothing Compose v1.29 lacks', () => {
    assert.equal(file.name, undefined, 'top-level name: is v2 only');
    for (const s of Object.values(file.services)) {
      for (const key of ['develop', 'include', 'pull_policy', 'post_start', 'pre_stop'])
        assert.equal(s[key], undefined, key);
    }
  });

  it('runs Plancton privileged with the socket, /proc, cgroups, the config volume and log rotation', () => {
    assert.equal(plancton.privileged, true);
    assert.equal(plancton.restart, 'unless-stopped');
    assert.deepEqual(plancton.volumes, [
      '/var/run/docker.sock:/var/run/docker.sock',
      '/proc:/host/proc:ro',
      '/sys/fs/cgroup:/sys/fs/cgroup',
      './config.yaml:/etc/plancton/config.yaml:ro',
    ]);
    assert.deepEqual((plancton.logging as { driver: string }).driver, 'json-file');
    assert.equal(plancton.environment?.PLANCTON_ON_STOP, '${PLANCTON_ON_STOP:-keep}');
    assert.equal(plancton.profiles, undefined, 'Plancton runs without any profile');
    assert.match(String(plancton.stop_grace_period), /2m/);
  });

  it('puts InfluxDB, Prometheus and Grafana in the monitoring profile only', () => {
    for (const name of ['influxdb', 'prometheus', 'grafana'])
      assert.deepEqual(file.services[name]?.profiles, ['monitoring'], name);
    assert.equal(file.services.influxdb?.image, 'influxdb:1.8');
  });

  it('ships a config.yaml the daemon accepts as it is', () => {
    const loaded = loadConfig({ file: resolve(ROOT, 'compose/config.yaml'), fileRequired: true, env: {}, args: [] });
    assert.deepEqual(loaded.warnings, []);
  });
});
