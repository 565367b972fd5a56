/**
 * Pilots never pass for a Compose project's containers, whatever image they run (issue 23, point 4).
 * A container inherits its image's labels: an image Compose v2 built for a service carries
 * `com.docker.compose.project`, `.service` and `.version` (the HTCondor demo's pilot image is its
 * service `cm`'s), and one committed from a Compose container carries all of them, `config-hash`,
 * `oneoff` and `container-number` too. Per Compose (v2, then v1.29), a project of the test's own
 * with one service `cm`: both images, the built daemon running one pilot of each (two pools), and
 * the project's own commands: `ps`, `ps -a`, `images`, `exec cm`, `down --remove-orphans`, `down`.
 * The pilots must be listed by none, reached by no `exec`, and left running, unrestarted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { docker, randomInstance, requireEngine, waitFor } from '../support/docker.ts';
import { DaemonProcess, pilotsOf, testConfig } from '../support/daemon.ts';
import { FakeProc } from '../support/fake-proc.ts';
import { COMPOSE_COMMANDS, composeVersion, forceRemove, requireCompose } from '../support/image.ts';

const BASE = 'busybox:latest';
const engineSkip = await requireEngine(BASE);
// only Compose v2 labels the images it builds: the built image is v2's in both suites, as in the demo
const v2Skip = engineSkip || (await requireCompose(['docker', 'compose']));

interface Pilot {
  readonly id: string;
  readonly name: string;
  readonly startedAt: string;
}

for (const compose of COMPOSE_COMMANDS) {
  const skip = v2Skip || (await requireCompose(compose));
  const version = await composeVersion(compose);
  const v2 = compose.length === 2;
  describe(
    `pilots of images a Compose project made, against ${compose.join(' ')} ${version ?? ''}`,
    { skip, timeout: 10 * 60_000 },
    () => {
      const instance = randomInstance();
      const project = `plancton-cp-${instance.slice('test-'.length)}`;
      const built = `${project}:built`;
      const committed = `${project}:committed`;
      const dir = mkdtempSync(join(tmpdir(), 'plancton-compose-pilots-'));
      const proc = new FakeProc(4);
      let daemon: DaemonProcess | undefined;
      let pilots: Pilot[] = [];

      /** `compose -p PROJECT args…` in the project's directory; never rejects. */
      async function run(
        command: readonly string[],
        args: readonly string[],
      ): Promise<{ exitCode: number; out: string }> {
        const [cmd = '', ...pre] = command;
        const r = await execa(cmd, [...pre, '-p', project, ...args], {
          cwd: dir,
          reject: false,
          all: true,
          timeout: 300_000,
        });
        return { exitCode: r.exitCode ?? -1, out: String(r.all) };
      }

      async function ok(args: readonly string[]): Promise<string> {
        const r = await run(compose, args);
        assert.equal(r.exitCode, 0, `${compose.join(' ')} ${args.join(' ')}: ${r.out}`);
        return r.out;
      }

      /** Fails unless every pilot still runs, unrestarted, and `out` names none of them. */
      async function untouched(what: string, out = ''): Promise<void> {
        for (const p of pilots) {
          assert.equal(
            await docker(['inspect', '-f', '{{.State.Status}} {{.State.StartedAt}}', p.id]),
            `running ${p.startedAt}`,
            `${what}: pilot ${p.name} still runs, unrestarted`,
          );
          assert.ok(
            !out.includes(p.name) && !out.includes(p.id.slice(0, 12)),
            `${what} names pilot ${p.name}:\n${out}`,
          );
        }
      }

      before(async () => {
        writeFileSync(join(dir, 'Dockerfile'), `FROM ${BASE}\n`);
        writeFileSync(
          join(dir, 'docker-compose.yml'),
          ['services:', '  cm:', '    build: .', `    image: ${built}`, '    command: ["sleep", "600"]', ''].join('\n'),
        );
        const b = await run(['docker', 'compose'], ['build']);
        assert.equal(b.exitCode, 0, `docker compose build: ${b.out}`);
        await ok(['up', '-d']);
        const cm = await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`]);
        await docker(['commit', cm, committed]);
        const image = (ref: string): Promise<Record<string, string>> =>
          docker(['image', 'inspect', '-f', '{{json .Config.Labels}}', ref]).then(
            (j) => JSON.parse(j) as Record<string, string>,
          );
        assert.equal(
          (await image(built))['com.docker.compose.project'],
          project,
          'Compose v2 labels the image it builds',
        );
        assert.equal(
          (await image(committed))['com.docker.compose.oneoff'],
          'False',
          "a committed container's image has them all",
        );

        const pool = (name: string, image: string): Record<string, unknown> => ({
          name,
          share: 50,
          docker_image: image,
          docker_cmd: ['sleep', '600'],
        });
        daemon = new DaemonProcess(
          testConfig(instance, {
            host_proc: proc.dir,
            io_mechanism: 'off',
            cpus_per_dock: 1,
            max_docks: 2,
            pools: [pool('built', built), pool('committed', committed)],
          }),
        ).start();
        const rows = await waitFor(
          'one running pilot of each image',
          async () => {
            const r = await pilotsOf(instance, 'running');
            return r.length === 2 ? r : undefined;
          },
          120_000,
          500,
        );
        // the daemon ends here (SIGKILL: no on_stop), so that only Compose could touch the pilots
        await daemon.kill('SIGKILL');
        pilots = await Promise.all(
          rows.map(async (r) => ({ ...r, startedAt: await docker(['inspect', '-f', '{{.State.StartedAt}}', r.id]) })),
        );
      });

      after(async () => {
        await daemon?.cleanup();
        await run(compose, ['down', '-v', '--remove-orphans']);
        await forceRemove(...(await pilotsOf(instance)).map((r) => r.id));
        await execa('docker', ['rmi', committed, built], { reject: false });
        proc.close();
        rmSync(dir, { recursive: true, force: true });
      });

      it("the pilots carry none of their images' Compose labels but empty ones, and no project filter selects them", async () => {
        for (const p of pilots) {
          const labels = JSON.parse(await docker(['inspect', '-f', '{{json .Config.Labels}}', p.id])) as Record<
            string,
            string
          >;
          const compose = Object.entries(labels).filter(([k]) => k.startsWith('com.docker.compose.'));
          assert.ok(
            compose.length >= 3,
            `the image's Compose labels are there, overridden: ${JSON.stringify(compose)}`,
          );
          assert.deepEqual(
            compose.filter(([, v]) => v !== ''),
            [],
            `pilot ${p.name}: every Compose label empty`,
          );
        }
        const selected = await docker([
          'ps',
          '-a',
          '-q',
          '--no-trunc',
          '--filter',
          `label=com.docker.compose.project=${project}`,
        ]);
        for (const p of pilots)
          assert.ok(!selected.includes(p.id), `label=com.docker.compose.project=${project} selects ${p.name}`);
      });

      it('`ps`, `ps -a` and `images` list the service, not the pilots', async () => {
        for (const args of [['ps'], ['ps', '-a'], ['images']]) {
          const out = await ok(args);
          assert.match(out, new RegExp(`${project}[-_]cm[-_]1`), `${args.join(' ')} lists the service's container`);
          await untouched(args.join(' '), out);
        }
      });

      it("`exec cm` reaches the service's container, not a pilot", async () => {
        const cm = await docker([
          'ps',
          '-q',
          '--filter',
          `label=com.docker.compose.project=${project}`,
          '--filter',
          'label=com.docker.compose.service=cm',
        ]);
        assert.equal(
          (await ok(['exec', '-T', 'cm', 'hostname'])).trim(),
          await docker(['inspect', '-f', '{{.Config.Hostname}}', cm]),
        );
      });

      it('`down --remove-orphans`, then `up` and `down`, leave the pilots running', async () => {
        await untouched('down --remove-orphans', await ok(['down', '--remove-orphans']));
        await ok(['up', '-d']);
        await untouched('down', await ok(['down']));
        // and with nothing of the project left, Compose sees nothing to remove
        assert.equal(await docker(['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`]), '');
        if (v2) assert.doesNotMatch(await ok(['ls', '-a']), new RegExp(project));
      });
    },
  );
}
