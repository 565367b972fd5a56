/**
 * The README's HTCondor demo, run as a user pastes it: the lines between
 * `<!-- htcondor-demo:start -->` and `<!-- htcondor-demo:end -->`, verbatim, through bash, in
 * the repository's root (compose/htcondor-demo.yml: a central manager and Plancton with
 * config/htcondor.yaml, both images built from the project's Dockerfiles). The last line must
 * show the job's output from a Plancton pilot. The lines run as written, with Compose v2
 * (`docker compose`; CI installs the plugin, .ci/setup/compose-v2.sh); v1.29 renders the file, and
 * with the pilots running, `ps -a`, `images` (both) and `exec cm` (v2) must not take them for the
 * project's containers, nor v1's `down`, which takes the demo down (Plancton removes the pilots).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { removeByLabel, waitFor } from '../support/docker.ts';
import { ROOT, readmeBlock, requireHTCondor } from '../support/htcondor.ts';
import { NODE_IMAGE, randomSuffix, requireCompose, requireImages, shell } from '../support/image.ts';
import { firstPool } from '../../src/config/pools.ts';

const skip =
  (await requireHTCondor()) ||
  (await requireImages(NODE_IMAGE)) ||
  (await requireCompose(['docker', 'compose'])) ||
  (await requireCompose(['docker-compose']));

describe("the README's HTCondor demo, verbatim", { skip, timeout: 30 * 60_000 }, () => {
  const suffix = randomSuffix();
  const instance = `htcondor-demo-${suffix}`;
  // The environment of the shell the lines run in, not the lines: a project and an instance of
  // the test's own (so that cleaning up touches nothing else), and, since this machine may run
  // other work, an overload margin that keeps Plancton from holding its pilot back for it.
  const env = {
    COMPOSE_PROJECT_NAME: `plancton-demo-${suffix}`,
    PLANCTON_INSTANCE_ID: instance,
    PLANCTON_OVERLOAD_MARGIN: '100',
  };
  const compose = ['docker', 'compose'];

  after(async () => {
    const [cmd = '', ...pre] = compose;
    await execa(cmd, [...pre, '-f', 'compose/htcondor-demo.yml', 'down', '-v', '--remove-orphans'], {
      cwd: ROOT,
      env,
      reject: false,
      timeout: 15 * 60_000,
    });
    await removeByLabel(`org.plancton.instance=${instance}`);
  });

  it("the demo file reads the same with Compose v1 and v2, and gives config/htcondor.yaml the pool's network, token and central manager", async (t) => {
    const rendered: string[] = [];
    for (const cmd of [['docker-compose'], ['docker', 'compose']]) {
      const r = await execa(cmd[0]!, [...cmd.slice(1), '-f', 'compose/htcondor-demo.yml', 'config'], {
        cwd: ROOT,
        env,
        reject: false,
        timeout: 60_000,
      });
      if (
        r.exitCode !== 0 &&
        /not a docker command|unknown command|ENOENT/i.test(`${String(r.stderr)} ${r.shortMessage ?? ''}`)
      ) {
        t.diagnostic(`${cmd.join(' ')} is not installed here: not checked with it`);
        continue;
      }
      assert.equal(r.exitCode, 0, `${cmd.join(' ')} config: ${String(r.stderr)}`);
      rendered.push(String(r.stdout));
    }
    assert.ok(rendered.length > 0, 'at least one Compose read the file');
    const file = parseYaml(readFileSync(join(ROOT, 'compose/htcondor-demo.yml'), 'utf8')) as {
      services: {
        plancton: { environment: Record<string, string | null>; volumes: string[] };
        cm: { hostname: string; volumes: string[] };
      };
      networks: { default: { name: string } };
      volumes: { tokens: { name: string } };
    };
    const penv = file.services.plancton.environment;
    assert.ok(
      file.services.plancton.volumes.includes('../config/htcondor.yaml:/etc/plancton/config.yaml:ro'),
      'Plancton runs config/htcondor.yaml itself',
    );
    const demoEnv = Object.fromEntries(Object.entries(penv).filter(([, v]) => typeof v === 'string')) as Record<
      string,
      string
    >;
    const loaded = loadConfig({ file: join(ROOT, 'config/htcondor.yaml'), fileRequired: true, env: demoEnv, args: [] });
    assert.deepEqual(loaded.warnings, []);
    assert.equal(
      firstPool(loaded.pools).pilot.network,
      file.networks.default.name,
      "the pilots join the demo's network",
    );
    assert.ok(
      firstPool(loaded.pools).pilot.env.includes(`CONDOR_HOST=${file.services.cm.hostname}`),
      'the pilots are pointed at the central manager',
    );
    assert.deepEqual(
      firstPool(loaded.pools).pilot.binds,
      [`${file.volumes.tokens.name}:/etc/condor/tokens-orig.d:ro`],
      'the pilots mount the token volume, read-only',
    );
    assert.ok(
      file.services.cm.volumes.includes('tokens:/etc/condor/pilot-tokens'),
      'where the central manager writes the token',
    );
    assert.ok(!firstPool(loaded.pools).pilot.env.some((e) => /token/i.test(e)), 'no token in the environment');
  });

  it('brings the pool up, runs the job on a Plancton pilot and shows its output; Compose lists and enters no pilot; `down` (v1) leaves them to Plancton, which removes them', async (t) => {
    const lines = readmeBlock('htcondor-demo');
    assert.ok(
      lines.length >= 3 && lines.every((l) => l.startsWith('docker compose ')),
      `the block is Compose v2 lines: ${JSON.stringify(lines)}`,
    );
    let last = '';
    for (const line of lines) {
      const r = await shell(line, env, 25 * 60_000);
      assert.equal(
        r.exitCode,
        0,
        `'${line}' failed (${r.exitCode}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`,
      );
      last = r.stdout;
    }
    assert.match(last, /^hello from\n/, "the job's output");
    const host = last.split('\n')[1] ?? '';
    assert.match(host, /^plancton-[a-z0-9-]+-[a-z0-9]{6}$/, `it ran in a Plancton pilot (host name ${host})`);
    const pilot = await execa(
      'docker',
      [
        'ps',
        '-a',
        '--filter',
        `label=org.plancton.pilot-id=${host.split('-').at(-1)}`,
        '--filter',
        `label=org.plancton.instance=${instance}`,
        '-q',
      ],
      { reject: false },
    );
    t.diagnostic(`the job ran in pilot ${host} (${pilot.stdout.trim() ? 'still present' : 'already ended'})`);

    // The pilots run the image Compose built for `cm`, which carries the project's labels: no
    // Compose command of the demo may take them for its own (issue 23). Compose v1's `down` did
    // stop and remove them itself (Compose's stop, not Plancton's vacate): v1 takes the demo down.
    const pilots = await waitFor(
      'a running pilot of the demo',
      async () => {
        const out = await execa(
          'docker',
          ['ps', '--filter', `label=org.plancton.instance=${instance}`, '--format', '{{.ID}} {{.Names}}'],
          { reject: false },
        );
        const rows = String(out.stdout).trim();
        return rows === '' ? undefined : rows.split('\n').map((r) => r.split(' ') as [string, string]);
      },
      120_000,
      1000,
    );
    for (const [id, name] of pilots) {
      const labels = JSON.parse(
        (await execa('docker', ['inspect', '-f', '{{json .Config.Labels}}', id])).stdout,
      ) as Record<string, string>;
      const composeLabels = Object.entries(labels).filter(([k]) => k.startsWith('com.docker.compose.'));
      assert.ok(composeLabels.length > 0, "the pilot's image is the one Compose built for cm");
      assert.deepEqual(
        composeLabels.filter(([, v]) => v !== ''),
        [],
        `pilot ${name}: its image's Compose labels emptied`,
      );
    }
    const demo = async (command: readonly string[], args: readonly string[]): Promise<string> => {
      const [c = '', ...p] = command;
      const r = await execa(c, [...p, '-f', 'compose/htcondor-demo.yml', ...args], {
        cwd: ROOT,
        env,
        reject: false,
        all: true,
        timeout: 15 * 60_000,
      });
      assert.equal(r.exitCode, 0, `${command.join(' ')} ${args.join(' ')}: ${String(r.all).slice(-2000)}`);
      return String(r.all);
    };
    for (const command of [compose, ['docker-compose']])
      for (const args of [['ps', '-a'], ['images']]) {
        const out = await demo(command, args);
        for (const [, name] of pilots)
          assert.ok(!out.includes(name), `${command.join(' ')} ${args.join(' ')} lists ${name}`);
      }
    assert.equal(
      (await demo(compose, ['exec', '-T', 'cm', 'hostname'])).trim(),
      'cm',
      '`exec cm` enters the central manager',
    );
    const down = await demo(['docker-compose'], ['down']);
    for (const [, name] of pilots)
      assert.ok(!down.includes(name), `docker-compose down stopped ${name} itself, not Plancton:\n${down}`);
    await waitFor(
      'no pilot of the demo left',
      async () => {
        const left = await execa('docker', ['ps', '-a', '-q', '--filter', `label=org.plancton.instance=${instance}`], {
          reject: false,
        });
        return String(left.stdout).trim() === '' ? true : undefined;
      },
      60_000,
      1000,
    );
  });
});
