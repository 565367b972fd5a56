/**
 * The image with PLANCTON_CONF_GIT: git is in it, the configuration repository (served by a
 * git daemon on the host's loopback) is cloned into /etc/plancton, new commits are followed,
 * and `plancton bootstrap` / `plancton-bootstrap` work in the container. Run with the README's
 * `docker run` flags plus the options under test.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { docker, removeByLabel, TEST_RUN_LABEL, waitFor } from '../support/docker.ts';
import { GitServer } from '../support/git-server.ts';
import {
  NODE_IMAGE,
  PILOT_IMAGE,
  allPilots,
  dockerExec,
  ensureImage,
  forceRemove,
  quickStart,
  randomSuffix,
  requireImages,
  runningPilots,
  statusIn,
  variantArgs,
  yamlOf as yaml,
} from '../support/image.ts';

const skip = await requireImages(NODE_IMAGE, PILOT_IMAGE);

describe('the image: configuration from a git repository (PLANCTON_CONF_GIT)', { skip, timeout: 15 * 60_000 }, () => {
  const { run } = quickStart();
  const run_ = `e2e-git-${randomSuffix()}`;
  const instance = run_;
  const name = `plancton-${run_}`;
  const server = new GitServer();
  const config = (maxDocks: number): string =>
    yaml({
      main_sleep: 1,
      updateconfig: 1,
      cpus_per_dock: 0.05,
      max_dock_mem: 64 * 1024 * 1024,
      stop_timeout: 1,
      grace_kill: 600,
      grace_spawn: 0,
      max_docks: maxDocks,
      docker_cmd: 'sleep 604',
      instance_id: instance,
    });

  before(async () => {
    await ensureImage();
    await server.start();
    await server.create('site/pilots', { 'config.yaml': config(1) });
  });

  after(async () => {
    await removeByLabel(`${TEST_RUN_LABEL}=${run_}`);
    await forceRemove(...(await allPilots(instance)));
    await server.cleanup();
  });

  it('clones the repository into /etc/plancton, follows its commits, and has plancton bootstrap and git inside', async () => {
    // the git daemon listens on the host's loopback only: the container shares the host's network
    await docker(
      variantArgs(run, name, [
        '--label',
        `${TEST_RUN_LABEL}=${run_}`,
        '--network',
        'host',
        '-e',
        'PLANCTON_CONF_GIT=site/pilots',
        '-e',
        `PLANCTON_CONF_GIT_BASE=${server.base}`,
        '-e',
        'PLANCTON_CONF_UPDATE=1',
      ]),
    );
    await waitFor(
      'one pilot from the cloned configuration',
      async () => ((await runningPilots(instance)).length === 1 ? true : undefined),
      120_000,
    );
    const first = await waitFor('a status report', () => statusIn(name), 60_000);
    assert.equal(first.config.source, '/etc/plancton/config.yaml');

    await server.commit('site/pilots', { 'config.yaml': config(2) }, 'two pilots');
    await waitFor(
      'two pilots after the new commit',
      async () => ((await runningPilots(instance)).length === 2 ? true : undefined),
      120_000,
    );

    const again = await dockerExec(name, ['plancton-bootstrap', 'site/pilots', '--git-base', server.base]);
    assert.equal(again.exitCode, 0, again.stderr);
    assert.match(again.stdout, /\/etc\/plancton already holds site\/pilots at [0-9a-f]{12}/);
    const gitVersion = await dockerExec(name, ['git', '--version']);
    assert.match(gitVersion.stdout, /^git version \d/);
  });
});
