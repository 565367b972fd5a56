/**
 * compose/docker-compose.yml with both Compose releases the project supports, one after the
 * other: v2 (`docker compose`, the 2.26 plugin) and v1.29 (`docker-compose`, end of life but
 * still in Debian bookworm). Each: the README's `up` line verbatim (spelt `docker-compose` for
 * v1), under a project name
 * and an override file of the test's own (COMPOSE_PROJECT_NAME, COMPOSE_FILE); what `down`
 * does to the pilots (keep, remove); the monitoring profile by `config` only, since its images
 * (influxdb, prometheus, grafana) cannot be pulled here.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { docker, dockerInspect, waitFor } from '../support/docker.ts';
import {
  COMPOSE_COMMANDS,
  NODE_IMAGE,
  PILOT_IMAGE,
  ROOT,
  allPilots,
  composeVersion,
  ensureImage,
  forceRemove,
  randomSuffix,
  readmeCommands,
  requireCompose,
  requireImages,
  runningPilots,
  shell,
  statusIn,
  withCompose,
} from '../support/image.ts';

const images = await requireImages(NODE_IMAGE, PILOT_IMAGE);
const COMPOSE_DIR = resolve(ROOT, 'compose');

interface ComposeConfig {
  services: Record<
    string,
    {
      profiles?: string[];
      environment?: Record<string, string | null>;
      volumes?: Array<string | { source?: string; target?: string }>;
    }
  >;
}

for (const compose of COMPOSE_COMMANDS) {
  const skip = images || (await requireCompose(compose));
  const version = await composeVersion(compose);
  describe(
    `compose/docker-compose.yml with ${compose.join(' ')} ${version ?? ''}`,
    { skip, timeout: 15 * 60_000 },
    () => {
      const project = `plancton-e2e-${randomSuffix()}`;
      const instance = project;
      let dir = '';
      let env: Record<string, string> = {};

      /** Runs the project's Compose with `args` in compose/, as the README's lines do. */
      async function run(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<string> {
        const [cmd = '', ...pre] = compose;
        const r = await execa(cmd, [...pre, ...args], {
          cwd: COMPOSE_DIR,
          env: { ...env, ...extraEnv },
          reject: false,
          timeout: 300_000,
        });
        if (r.exitCode !== 0)
          throw new Error(`${compose.join(' ')} ${args.join(' ')} failed (${r.exitCode}): ${String(r.stderr)}`);
        return String(r.stdout);
      }

      /** The id of the project's Plancton container. */
      async function planctonId(): Promise<string> {
        return docker([
          'ps',
          '-q',
          '--no-trunc',
          '--filter',
          `label=com.docker.compose.project=${project}`,
          '--filter',
          'label=com.docker.compose.service=plancton',
        ]);
      }

      /** `down`, and the exit code of the Plancton container it stopped (seen by `docker wait`, before it is removed). */
      async function down(extra: readonly string[] = []): Promise<{ exitCode: number; elapsedMs: number }> {
        const id = await planctonId();
        assert.ok(id, 'the Plancton container runs');
        const waiting = execa('docker', ['wait', id], { reject: false, timeout: 300_000 });
        await delay(300); // let `docker wait` attach before the container stops
        const t0 = Date.now();
        await run(['down', ...extra]);
        const elapsedMs = Date.now() - t0;
        const w = await waiting;
        return { exitCode: Number(String(w.stdout).trim()), elapsedMs };
      }

      const pilotsUp = (n: number): Promise<string[]> =>
        waitFor(
          `${n} running pilots`,
          async () => {
            const ids = await runningPilots(instance);
            return ids.length === n ? ids.sort() : undefined;
          },
          90_000,
        );

      before(async () => {
        dir = mkdtempSync(join(tmpdir(), 'plancton-e2e-compose-'));
        const override = join(dir, 'override.yml');
        // fast settings and a unique instance, over config.yaml (environment wins over the file)
        writeFileSync(
          override,
          [
            'services:',
            '  plancton:',
            '    environment:',
            `      PLANCTON_INSTANCE_ID: ${instance}`,
            '      PLANCTON_MAX_DOCKS: "2"',
            '      PLANCTON_CPUS_PER_DOCK: "0.05"',
            '      PLANCTON_MAIN_SLEEP: "1"',
            '      PLANCTON_STOP_TIMEOUT: "1"',
            '      PLANCTON_GRACE_KILL: "600"',
            '      PLANCTON_GRACE_SPAWN: "0"',
            '      PLANCTON_DOCKER_CMD: sleep 605',
            '',
          ].join('\n'),
        );
        env = { COMPOSE_PROJECT_NAME: project, COMPOSE_FILE: `docker-compose.yml:${override}` };
        await ensureImage();
      });

      after(async () => {
        if (compose.length > 0 && dir)
          await execa(compose[0] ?? '', [...compose.slice(1), 'down', '-v', '--remove-orphans'], {
            cwd: COMPOSE_DIR,
            env,
            reject: false,
            timeout: 300_000,
          });
        await forceRemove(...(await allPilots(instance)));
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      it("runs the README's `up` line verbatim; Plancton starts pilots", async (t) => {
        const { commands } = readmeCommands('compose-up');
        const script = withCompose(['set -e', ...commands].join('\n'), compose);
        assert.match(version ?? '', compose[0] === 'docker' ? /^2\.\d+\./ : /^1\.29\./, `${compose.join(' ')} version`);
        t.diagnostic(`compose block from README.md, run as: ${script.replaceAll('\n', '; ')}`);
        if (compose[0] === 'docker')
          assert.equal(script, ['set -e', ...commands].join('\n'), 'Compose v2 runs the README lines unchanged');
        const r = await shell(script, env, 300_000);
        assert.equal(r.exitCode, 0, r.stderr);

        const c = await dockerInspect(await planctonId());
        assert.ok(c, 'the Plancton container runs');
        assert.equal(c.HostConfig.Privileged, true);
        assert.equal(c.Config.Labels?.['org.plancton.self'], 'true');
        assert.ok(
          c.Config.Env?.includes('PLANCTON_ON_STOP=keep'),
          'on_stop keep unless PLANCTON_ON_STOP says otherwise',
        );
        // (Compose v1 lists an unset pass-through variable as a bare name, which sets nothing)
        assert.ok(
          !c.Config.Env?.some((e) => e.startsWith('PLANCTON_INFLUXDB_URL=')),
          'monitoring variables are passed on only when set',
        );
        const services = await docker([
          'ps',
          '-a',
          '--filter',
          `label=com.docker.compose.project=${project}`,
          '--format',
          '{{.Label "com.docker.compose.service"}}',
        ]);
        assert.equal(services, 'plancton', 'the monitoring profile is off by default');
        const extra = JSON.parse(await docker(['inspect', '-f', '{{json .HostConfig}}', c.Id])) as {
          RestartPolicy: { Name: string };
          LogConfig: { Type: string; Config: Record<string, string> };
          Binds: string[];
        };
        assert.equal(extra.RestartPolicy.Name, 'unless-stopped');
        assert.deepEqual(extra.LogConfig, { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '5' } });
        assert.ok(
          extra.Binds.includes(`${resolve(COMPOSE_DIR, 'config.yaml')}:/etc/plancton/config.yaml:ro`),
          extra.Binds.join(' '),
        );
        assert.ok(extra.Binds.includes('/proc:/host/proc:ro'));
        assert.ok(extra.Binds.some((b) => b.startsWith('/var/run/docker.sock:/var/run/docker.sock')));

        const ids = await pilotsUp(2);
        for (const id of ids) assert.deepEqual((await dockerInspect(id))?.Config.Cmd, ['sleep', '605']);
      });

      it('`exec plancton plancton status` works', async () => {
        const out = await run(['exec', '-T', 'plancton', 'plancton', 'status']);
        assert.match(out, /^daemon: +active/m);
        assert.match(out, new RegExp(`^instance: ${instance} `, 'm'));
        assert.match(out, /^config: +\/etc\/plancton\/config\.yaml/m);
      });

      it('`down` keeps the pilots by default (on_stop keep); the next `up` adopts them', async () => {
        const pilots = await pilotsUp(2);
        const { exitCode } = await down();
        assert.equal(exitCode, 0, 'Plancton exited 0 on SIGTERM');
        assert.deepEqual((await runningPilots(instance)).sort(), pilots, 'the pilots run on');

        await run(['up', '-d']);
        const id = await planctonId();
        const name = (await dockerInspect(id))?.Name.slice(1) ?? '';
        const seen = (await waitFor('a status report', () => statusIn(name), 60_000)).iterations;
        await waitFor(
          'three passes',
          async () => ((await statusIn(name))?.iterations ?? 0) >= seen + 3 || undefined,
          60_000,
        );
        assert.deepEqual((await runningPilots(instance)).sort(), pilots, 'adopted: the same pilots, none added');
      });

      it('with PLANCTON_ON_STOP=remove, `down` removes every pilot', async () => {
        // read when the container is created: `up` recreates it with the new value
        await run(['up', '-d'], { PLANCTON_ON_STOP: 'remove' });
        const c = await dockerInspect(await planctonId());
        assert.ok(c?.Config.Env?.includes('PLANCTON_ON_STOP=remove'));
        await pilotsUp(2);
        // the pilots are the previous daemon's: wait for this one's loop, so that the stop is its on_stop
        const name = c?.Name.slice(1) ?? '';
        await waitFor(
          'the new daemon iterating',
          async () => ((await statusIn(name))?.iterations ?? 0) >= 1 || undefined,
          60_000,
        );
        const { exitCode, elapsedMs } = await down();
        assert.equal(exitCode, 0);
        assert.ok(elapsedMs < 60_000, `down took ${elapsedMs} ms`);
        assert.deepEqual(await allPilots(instance), [], 'every pilot removed');
      });

      it('the monitoring profile (validated with `config`; its images cannot be pulled here)', async () => {
        // `config --services` lists inactive profiles in v1 but not in v2: look at each service's profiles
        const profiles = async (args: string[]): Promise<Record<string, string[]>> => {
          const c = parseYaml(await run([...args, 'config'])) as ComposeConfig;
          return Object.fromEntries(Object.entries(c.services).map(([k, v]) => [k, v.profiles ?? []]));
        };
        assert.deepEqual(await profiles(['--profile', 'monitoring']), {
          plancton: [],
          influxdb: ['monitoring'],
          prometheus: ['monitoring'],
          grafana: ['monitoring'],
        });

        // .env.example's monitoring block, uncommented, switches the profile and Plancton's wiring on
        const example = readFileSync(join(COMPOSE_DIR, '.env.example'), 'utf8');
        const on = example.replace(/^# (COMPOSE_PROFILES|PLANCTON_INFLUXDB_URL|PLANCTON_METRICS_LISTEN)=/gm, '$1=');
        assert.notEqual(on, example);
        const envFile = join(dir, 'monitoring.env');
        writeFileSync(envFile, on);
        const active = (await run(['--env-file', envFile, 'config', '--services'])).split('\n').filter(Boolean).sort();
        assert.deepEqual(active, ['grafana', 'influxdb', 'plancton', 'prometheus']);
        const config = parseYaml(await run(['--env-file', envFile, 'config'])) as ComposeConfig;
        const plancton = config.services.plancton?.environment ?? {};
        assert.equal(plancton.PLANCTON_INFLUXDB_URL, 'http://influxdb:8086#plancton');
        assert.equal(plancton.PLANCTON_METRICS_LISTEN, ':9100');
        const targets = (name: string): string[] =>
          (config.services[name]?.volumes ?? []).map((v) =>
            typeof v === 'string' ? (v.split(':')[1] ?? '') : (v.target ?? ''),
          );
        assert.ok(targets('grafana').includes('/etc/grafana/provisioning'));
        assert.ok(targets('grafana').includes('/var/lib/grafana/dashboards'));
        assert.ok(targets('prometheus').includes('/etc/prometheus/prometheus.yml'));
      });
    },
  );
}
