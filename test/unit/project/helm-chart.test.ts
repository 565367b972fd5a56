/**
 * Checks of the Helm chart (helm/plancton) that can run here without a cluster: the values, the
 * schema and their agreement with Plancton; then the real helm 3 and helm 4 (pinned, from
 * .ci/setup/helm-tools.sh) lint and render every ci/*-values.yaml, and the rendered objects
 * are checked (mounts, env, security context, probes, the ConfigMap's config through
 * `plancton config check`, the Secret kept out of plain env), and decoded by kubectl offline.
 * test/e2e/helm-daemonset.test.ts runs the rendered pod on the engine.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parse as parseYaml, stringify } from 'yaml';
import { loadConfig } from '../../../src/config/load.ts';
import { describeKey, KEYS, START_ONLY_KEYS } from '../../../src/config/schema/keys.ts';
import { configSchema, NOT_IN_CONFIG, readValuesSchema, type JsonSchema } from '../../support/helm-schema.ts';
import {
  helmTools,
  kubectlDecode,
  one,
  podSpec,
  renderChart,
  run,
  type K8sObject,
  type PodSpec,
} from '../../support/helm-render.ts';
import {
  CHART_DIR,
  mergeValues,
  readYaml,
  README_FILE,
  TABLE_END,
  TABLE_START,
  valueKeys,
  VALUES_FILE,
  valuesTable,
  type Values,
} from '../../support/helm-values.ts';

const CI_DIR = resolve(CHART_DIR, 'ci');
const ciFiles = readdirSync(CI_DIR)
  .filter((f) => f.endsWith('-values.yaml'))
  .sort();
const defaults = readYaml(VALUES_FILE);
const schema = readValuesSchema();

function compile(s: JsonSchema): ValidateFunction {
  // strict: unknown keywords and other schema mistakes throw instead of being ignored
  return new Ajv({ allErrors: true, allowUnionTypes: true, strict: true }).compile(s);
}
const validateValues = compile(schema);
const configProps = (configSchema().properties ?? {}) as Record<string, JsonSchema>;
const validateConfig = compile(configSchema());

const errorsOf = (errors: ErrorObject[] | null | undefined): string =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');

/** The values Helm would validate: a file merged over values.yaml. */
const merged = (file: string): Values => mergeValues(defaults, readYaml(resolve(CI_DIR, file)));

/** The config.yaml the ConfigMap carries: the `config` value as YAML. */
const configText = (values: Values): string => stringify(values.config ?? {});

describe('Chart.yaml', () => {
  const chart = parseYaml(readFileSync(resolve(CHART_DIR, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../package.json'), 'utf8')) as {
    version: string;
  };

  it('is a v2 application chart named plancton for Kubernetes >= 1.21', () => {
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.type, 'application');
    assert.equal(chart.name, 'plancton');
    assert.match(String(chart.version), /^\d+\.\d+\.\d+(-[\w.]+)?$/);
    assert.match(String(chart.kubeVersion), /^>=\s*1\.21(\.0)?(-0)?$/);
  });

  it('installs the Plancton version of package.json by default', () => {
    assert.equal(chart.appVersion, pkg.version);
    assert.equal((defaults.image as Values).tag, '', 'image.tag empty means appVersion');
  });
});

describe('values.schema.json', () => {
  it('is draft-07 and compiles under Ajv strict mode', () => {
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
    assert.equal(typeof validateValues, 'function');
  });

  it('its config part is the one generated from src/config/schema/keys.ts', () => {
    const stored = (schema.properties as Record<string, JsonSchema>).config;
    assert.deepEqual(stored, configSchema(), 'run: node test/support/helm-schema.ts --write');
  });

  it("has every key of Plancton's configuration, and no other", () => {
    const props = ((schema.properties as Record<string, JsonSchema>).config?.properties ?? {}) as Record<
      string,
      JsonSchema
    >;
    assert.deepEqual(Object.keys(props).sort(), [...KEYS].sort());
    for (const key of KEYS) assert.ok(props[key]?.description, `config.${key} has no description`);
  });

  it("accepts Plancton's default of every key it takes in config", () => {
    for (const key of KEYS) {
      if (key in NOT_IN_CONFIG) continue;
      const value = describeKey(key).default;
      assert.ok(validateConfig({ [key]: value }), `default of ${key}: ${errorsOf(validateConfig.errors)}`);
    }
  });

  it('refuses the keys the chart sets itself or keeps in a Secret', () => {
    for (const key of Object.keys(NOT_IN_CONFIG)) {
      assert.equal(validateConfig({ [key]: 'x' }), false, `config.${key} must be refused`);
    }
  });

  it('never refuses a value of the right YAML type that Plancton accepts, and refuses only what Plancton checks deeper', () => {
    // Plancton itself also coerces strings ("60", "a,b") and treats null as unset; the chart asks
    // for YAML types, so those are left out. Deeper checks (max_docks expressions, bind and
    // device syntax, URLs, cron patterns, time zones, listen addresses) are Plancton's alone.
    const deeper = new Set([
      'max_docks',
      'binds',
      'devices',
      'capabilities',
      'docker_env',
      'influxdb_url',
      'schedule',
      'schedule_timezone',
      'metrics_listen',
    ]);
    const probes: unknown[] = [
      0,
      1,
      -1,
      1.5,
      86400,
      '',
      ' ',
      'x',
      '1',
      '0:0',
      'nobody:nogroup',
      'ncpus - 2',
      'min(ncpus, 4',
      '/bin/sleep 60',
      '/a:/b',
      '/dev/fuse',
      'SYS_ADMIN',
      'keep',
      'drain',
      'debug',
      'loud',
      true,
      false,
      [],
      ['x'],
      ['/a:/b:ro'],
      [1],
      ['POOL=x'],
      [{ PathOnHost: '/dev/fuse' }],
      [{ Path: '/dev/fuse' }],
      { a: 1 },
      'http://h:8086#db',
      'http://u:p@h:8086#db',
      ['http://h:1#d', 'https://h:2#d'],
    ];
    let compared = 0;
    for (const key of KEYS) {
      if (key in NOT_IN_CONFIG) continue;
      const types = [configProps[key]?.type ?? []].flat();
      for (const probe of probes) {
        const bySchema = validateConfig({ [key]: probe });
        let byPlancton = true;
        try {
          loadConfig({ text: stringify({ [key]: probe }), env: {}, args: [] });
        } catch {
          byPlancton = false;
        }
        compared++;
        const credentials = key === 'influxdb_url' && JSON.stringify(probe).includes('@');
        const numeric = types.includes('number') || types.includes('integer');
        const coerced =
          typeof probe === 'string' &&
          (!types.includes('string') || (numeric && probe.trim() !== '' && Number.isFinite(Number(probe))));
        if (byPlancton && !bySchema && !credentials && !coerced) {
          assert.fail(
            `config.${key}: ${JSON.stringify(probe)} is taken by Plancton but refused by the schema: ${errorsOf(validateConfig.errors)}`,
          );
        }
        if (bySchema && !byPlancton)
          assert.ok(
            deeper.has(key),
            `config.${key}: ${JSON.stringify(probe)} passes the schema but Plancton refuses it`,
          );
      }
    }
    assert.ok(compared >= 30 * probes.length);
  });
});

describe('values files', () => {
  it('the scenarios are all there', () => {
    for (const name of ['default', 'host-socket-monitoring', 'dind', 'existing-secret', 'chart-secret', 'scheduling']) {
      assert.ok(ciFiles.includes(`${name}-values.yaml`), `ci/${name}-values.yaml missing`);
    }
  });

  it('values.yaml validates against the schema', () => {
    assert.ok(validateValues(defaults), errorsOf(validateValues.errors));
  });

  for (const file of ciFiles) {
    it(`ci/${file} merged over values.yaml validates against the schema`, () => {
      const values = merged(file);
      assert.ok(validateValues(values), errorsOf(validateValues.errors));
    });

    it(`ci/${file}: its config is a configuration Plancton loads without warnings`, () => {
      const values = merged(file);
      const loaded = loadConfig({ text: configText(values), env: {}, args: [] });
      // settings that give pilots power over the host (CVMFS: /dev/fuse, SYS_ADMIN) and metrics served beyond the host are named, by design
      assert.deepEqual(
        loaded.warnings.filter((w) => !w.startsWith('host power:') && !w.startsWith('metrics_listen')),
        [],
      );
    });

    it(`ci/${file}: terminationGracePeriodSeconds exceeds config.stop_timeout`, () => {
      const values = merged(file);
      const config = (values.config ?? {}) as Values;
      const stop =
        typeof config.stop_timeout === 'number' ? config.stop_timeout : Number(describeKey('stop_timeout').default);
      assert.ok(Number(values.terminationGracePeriodSeconds) > stop);
    });
  }

  it("the dind scenarios select the dind engine, and the others the node's socket", () => {
    for (const file of ciFiles) {
      const mode = (merged(file).engine as Values).mode;
      assert.equal(mode, file.startsWith('dind-') ? 'dind' : 'host-socket', file);
    }
  });

  it('the monitoring scenario serves metrics where the Service can reach them', () => {
    const values = merged('host-socket-monitoring-values.yaml');
    assert.match(String((values.config as Values).metrics_listen), /^(:|0\.0\.0\.0:|\[::\]:)\d+$/);
  });

  it('the secret scenarios pass credentials through the environment as Plancton reads them', () => {
    const values = merged('chart-secret-values.yaml');
    const credentials = values.credentials as Values;
    // the chart's Secret holds the URLs as a JSON list (secret.yaml), read as PLANCTON_INFLUXDB_URL
    const env = {
      PLANCTON_INFLUXDB_URL: JSON.stringify(credentials.influxdbUrl),
      PLANCTON_INFLUXDB_PASSWORD: String(credentials.influxdbPassword),
      PLANCTON_METRICS_TOKEN: String(credentials.metricsToken),
    };
    const loaded = loadConfig({ text: configText(values), env, args: [] });
    assert.equal(loaded.settings.metrics_token, credentials.metricsToken);
    assert.deepEqual(loaded.settings.influxdb_url, credentials.influxdbUrl);
    assert.equal(loaded.settings.influxdb_password, credentials.influxdbPassword);
    assert.equal((merged('existing-secret-values.yaml').credentials as Values).existingSecret, 'plancton-influxdb');
  });

  // Each: a values file (merged over values.yaml) and the instance path the schema must name.
  const invalid: Array<[string, string, string]> = [
    ['an unknown engine mode', 'engine: {mode: foo}', '/engine/mode'],
    ['max_docks as a list', 'config: {max_docks: [1, 2]}', '/config/max_docks'],
    ['cpus_per_dock 0', 'config: {cpus_per_dock: 0}', '/config/cpus_per_dock'],
    ['docks_per_loop 1.5', 'config: {docks_per_loop: 1.5}', '/config/docks_per_loop'],
    ['a quoted boolean', 'config: {docker_privileged: "yes"}', '/config/docker_privileged'],
    ['an unknown log level', 'config: {log_level: loud}', '/config/log_level'],
    ['an unknown on_stop', 'config: {on_stop: kill}', '/config/on_stop'],
    ['binds as a string', 'config: {binds: "/a:/b"}', '/config/binds'],
    ['a device map without PathOnHost', 'config: {devices: [{Path: /dev/fuse}]}', '/config/devices/0'],
    ['a misspelt config key', 'config: {max_dock: 3}', '/config'],
    ['config.hostname (set by the chart)', 'config: {hostname: node1}', '/config/hostname'],
    ['config.docker_socket (set by the chart)', 'config: {docker_socket: /x.sock}', '/config/docker_socket'],
    ['config.influxdb_password (a credential)', 'config: {influxdb_password: pw}', '/config/influxdb_password'],
    [
      'config.metrics_token (a credential)',
      'config: {metrics_token: abcdefghijklmnopqrstuvwxyz}',
      '/config/metrics_token',
    ],
    ['a metrics token too short for Plancton', 'credentials: {metricsToken: short}', '/credentials/metricsToken'],
    [
      'an InfluxDB URL with credentials in config',
      'config: {influxdb_url: "http://u:p@h:8086#db"}',
      '/config/influxdb_url',
    ],
    ['a misspelt top-level key', 'tolerations: []\nnodeselector: {}', '/'],
    [
      'dind storage of an unknown type',
      'engine: {mode: dind, dind: {storage: {type: pvc}}}',
      '/engine/dind/storage/type',
    ],
    ['a relative socket path', 'engine: {hostSocket: {path: docker.sock}}', '/engine/hostSocket/path'],
    ['an unprivileged container', 'securityContext: {privileged: false}', '/securityContext/privileged'],
    ['a surge of pods', 'updateStrategy: {rollingUpdate: {maxSurge: 1}}', '/updateStrategy/rollingUpdate/maxSurge'],
    ['a metrics Service without metrics_listen', 'metrics: {service: {enabled: true}}', '/config'],
    [
      'a ServiceMonitor without the Service',
      'config: {metrics_listen: ":9100"}\nmetrics: {serviceMonitor: {enabled: true}}',
      '/metrics/service/enabled',
    ],
    ['credentials.influxdbUrl as a map', 'credentials: {influxdbUrl: {a: b}}', '/credentials/influxdbUrl'],
  ];
  for (const [what, text, path] of invalid) {
    it(`rejects ${what}`, () => {
      const values = mergeValues(defaults, parseYaml(text) as Values);
      assert.equal(validateValues(values), false, `${text} was accepted`);
      const paths = (validateValues.errors ?? []).map((e) => e.instancePath || '/');
      assert.ok(paths.includes(path), `expected an error at ${path}, got: ${errorsOf(validateValues.errors)}`);
    });
  }
});

describe('values.yaml documentation', () => {
  const text = readFileSync(VALUES_FILE, 'utf8');
  const keys = valueKeys(text);

  it('every key has a comment starting with "# --" right above it', () => {
    const bare = keys.filter((k) => !k.marked || !k.doc).map((k) => `${k.path} (line ${k.line})`);
    assert.deepEqual(bare, []);
    assert.ok(keys.length > 50);
  });

  it('every top-level property of the schema has a default in values.yaml, and the other way round', () => {
    const inSchema = Object.keys(schema.properties as Values)
      .filter((k) => k !== 'global')
      .sort();
    assert.deepEqual(Object.keys(defaults).sort(), inSchema);
  });

  it("the chart README's table of values is the one values.yaml generates", () => {
    const readme = readFileSync(README_FILE, 'utf8');
    const start = readme.indexOf(TABLE_START);
    const end = readme.indexOf(TABLE_END);
    assert.ok(start >= 0 && end > start, 'markers missing in helm/plancton/README.md');
    assert.equal(
      readme.slice(start + TABLE_START.length, end).trim(),
      valuesTable(),
      'run: node test/support/helm-values.ts --write',
    );
  });
});

describe('templates (read as text)', () => {
  const dir = resolve(CHART_DIR, 'templates');
  const files = readdirSync(dir);
  const all = files.map((f) => readFileSync(resolve(dir, f), 'utf8')).join('\n');

  it('every named template that is included is defined', () => {
    const defined = new Set([...all.matchAll(/\{\{-? *define "([^"]+)"/g)].map((m) => m[1]));
    const used = new Set([...all.matchAll(/\b(?:include|template) "([^"]+)"/g)].map((m) => m[1]));
    for (const name of used) assert.ok(defined.has(name), `${name} is used but not defined`);
  });

  it("the start-only keys that roll the pods are Plancton's, less those the chart sets", () => {
    const m = /define "plancton\.startOnlyConfig"[\s\S]*?pick \([^)]*\) ((?:"[a-z_]+" ?)+)/.exec(all);
    assert.ok(m?.[1], 'plancton.startOnlyConfig not found in _helpers.tpl');
    const picked = [...m[1].matchAll(/"([a-z_]+)"/g)].map((x) => x[1]).sort();
    const expected = [...START_ONLY_KEYS].filter((k) => !(k in NOT_IN_CONFIG)).sort();
    assert.deepEqual(picked, expected);
  });

  it('the keys the chart refuses in config are the ones the schema refuses', () => {
    // every `range $key := list "a" "b"` over config keys, and every `if hasKey .Values.config "x"` that fails at once
    const lists = [...all.matchAll(/range \$key := list ((?:"[a-z_]+" ?)+)/g)].flatMap((m) =>
      [...(m[1] ?? '').matchAll(/"([a-z_]+)"/g)].map((x) => x[1] ?? ''),
    );
    const single = [...all.matchAll(/if hasKey \.Values\.config "([a-z_]+)" \}\}\n\{\{- fail/g)].map((m) => m[1] ?? '');
    assert.ok(single.includes('influxdb_password'));
    assert.deepEqual([...lists, ...single].sort(), Object.keys(NOT_IN_CONFIG).sort());
  });
});

describe('rendered by the real helm 3 and helm 4', () => {
  const { helm: helms, kubectl } = helmTools();
  const PLANCTON_CLI = resolve(import.meta.dirname, '../../../src/cli/plancton.ts');

  it('the pinned versions are the ones that run', async () => {
    for (const h of helms) {
      const r = await run(h.bin, ['version', '--template', '{{.Version}}']);
      assert.equal(r.stdout.trim(), `v${h.version}`, h.name);
    }
  });

  for (const h of helms) {
    for (const file of ciFiles) {
      describe(`${h.name} ${h.version}, ci/${file}`, () => {
        const valuesFile = resolve(CI_DIR, file);
        const values = merged(file);
        const dind = (values.engine as Values).mode === 'dind';
        const topLevel = dind && ((values.engine as Values).dind as Values).placement === 'top-level';
        let objects: K8sObject[] = [];
        before(async () => ({ objects } = await renderChart(h.bin, [valuesFile])));

        it('helm lint --strict passes', async () => {
          const r = await run(h.bin, ['lint', '--strict', CHART_DIR, '-f', valuesFile]);
          assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
          assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
        });

        it('renders the DaemonSet, its ConfigMap and ServiceAccount, in the release namespace', () => {
          const kinds = objects.map((o) => o.kind);
          for (const kind of ['DaemonSet', 'ConfigMap', 'ServiceAccount'])
            assert.ok(kinds.includes(kind), `${kind} missing: ${kinds.join(', ')}`);
          for (const o of objects)
            assert.equal(
              (o.metadata as { namespace?: string }).namespace,
              'plancton-test',
              `${o.kind} ${o.metadata.name}`,
            );
        });

        it('the Plancton container: host /proc read-only, config file, run dir, the engine socket, env, probe, security context', () => {
          const pod = podSpec(objects);
          const c = pod.containers.find((x) => x.name === 'plancton');
          assert.ok(c, 'no plancton container');
          const mount = (path: string) => c.volumeMounts?.find((m) => m.mountPath === path);
          const volume = (name: string | undefined) => pod.volumes.find((v) => v.name === name);
          assert.equal(mount('/host/proc')?.readOnly, true);
          assert.equal(volume(mount('/host/proc')?.name)?.hostPath?.path, '/proc');
          assert.equal(mount('/etc/plancton')?.readOnly, true);
          assert.ok(volume(mount('/etc/plancton')?.name)?.configMap, 'config is not the ConfigMap');
          assert.ok(mount('/var/run/plancton'), 'no run dir');
          assert.equal(
            volume(mount('/sys/fs/cgroup')?.name)?.hostPath?.path,
            '/sys/fs/cgroup',
            'host cgroup tree not mounted',
          );
          const env = new Map((c.env ?? []).map((e) => [e.name, e]));
          assert.equal(env.get('PLANCTON_HOST_PROC')?.value, '/host/proc');
          assert.equal(env.get('PLANCTON_HOSTNAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
          const socket = env.get('PLANCTON_DOCKER_SOCKET')?.value ?? '';
          assert.deepEqual(c.livenessProbe?.exec?.command, ['plancton', 'health']);
          assert.deepEqual(c.securityContext, values.securityContext);
          assert.equal(pod.hostPID, false);
          assert.equal(pod.automountServiceAccountToken, false);
          if (dind) {
            const sidecar = pod.containers.find((x) => x.name === 'dind');
            assert.ok(sidecar, 'dind mode without its sidecar');
            assert.equal(sidecar.securityContext?.privileged, true);
            const dindValues = (values.engine as Values).dind as Values;
            assert.equal(
              sidecar.image,
              `${String((dindValues.image as Values).repository)}:${String((dindValues.image as Values).tag)}`,
            );
            const dockerd = ['dockerd', `--host=unix://${socket}`, ...(dindValues.extraArgs as string[])];
            if (topLevel) {
              // the chart's own script, from the ConfigMap, then the image's entrypoint
              assert.deepEqual(sidecar.command, ['sh', '/etc/plancton-dind/dind-cgroups.sh']);
              assert.deepEqual(sidecar.args, ['dockerd-entrypoint.sh', ...dockerd]);
              const scripts = sidecar.volumeMounts?.find((m) => m.mountPath === '/etc/plancton-dind');
              assert.equal(scripts?.readOnly, true);
              assert.deepEqual(volume(scripts?.name)?.configMap?.items, [
                { key: 'dind-cgroups.sh', path: 'dind-cgroups.sh' },
              ]);
              const proc = sidecar.volumeMounts?.find((m) => m.mountPath === '/host/proc');
              assert.equal(proc?.readOnly, true);
              assert.equal(volume(proc?.name)?.hostPath?.path, '/proc');
            } else {
              assert.equal(sidecar.command, undefined);
              assert.deepEqual(sidecar.args, dockerd);
            }
            // the socket's directory is one emptyDir both containers mount at the same path
            const dir = socket.slice(0, socket.lastIndexOf('/'));
            const ours = mount(dir);
            const theirs = sidecar.volumeMounts?.find((m) => m.mountPath === dir);
            assert.ok(ours && theirs && ours.name === theirs.name, `socket directory ${dir} not shared`);
            assert.ok(volume(ours.name)?.emptyDir, 'socket directory is not an emptyDir');
            assert.ok(sidecar.volumeMounts?.some((m) => m.mountPath === '/var/lib/docker'));
            assert.ok(!pod.volumes.some((v) => v.hostPath?.type === 'Socket'), 'dind mode mounts a node socket');
          } else {
            assert.equal(socket, '/var/run/docker.sock');
            const engine = (values.engine as Values).hostSocket as Values;
            const v = volume(mount('/var/run/docker.sock')?.name);
            assert.deepEqual(v?.hostPath, { path: engine.path, type: 'Socket' });
            assert.equal(pod.containers.length, 1);
          }
        });

        it("the ConfigMap carries a config.yaml that `plancton config check` accepts, with the values' keys", async () => {
          const cm = one(objects, 'ConfigMap') as K8sObject & { data: Record<string, string> };
          assert.deepEqual(Object.keys(cm.data), topLevel ? ['config.yaml', 'dind-cgroups.sh'] : ['config.yaml']);
          if (topLevel)
            assert.equal(
              cm.data['dind-cgroups.sh'],
              readFileSync(resolve(CHART_DIR, 'files/dind-cgroups.sh'), 'utf8'),
              'the script as shipped',
            );
          const dir = mkdtempSync(resolve(tmpdir(), 'plancton-helm-'));
          try {
            const file = resolve(dir, 'config.yaml');
            writeFileSync(file, cm.data['config.yaml'] ?? '');
            const r = await run(process.execPath, [PLANCTON_CLI, 'config', 'check', file]);
            assert.equal(r.exitCode, 0, r.stderr);
            const effective = parseYaml(r.stdout) as Values;
            for (const [key, value] of Object.entries((values.config ?? {}) as Values))
              assert.deepEqual(effective[key], value, key);
            if (topLevel) {
              // nothing added: the node's /plancton, as with a host socket
              assert.equal(effective.cgroup_parent, (values.config as Values | undefined)?.cgroup_parent ?? 'plancton');
              assert.ok(!/dind_idle|cgroup_parent/.test(cm.data['config.yaml'] ?? ''), 'top-level writes neither key');
            } else if (dind) {
              // engine.dind.idle (default true) becomes dind_idle, and the default cgroup_parent stays, to be found in the sidecar's cgroup
              const idle = ((values.engine as Values | undefined)?.dind as Values | undefined)?.idle !== false;
              assert.equal(effective.dind_idle, (values.config as Values | undefined)?.dind_idle ?? idle);
              if (!idle) assert.equal(effective.cgroup_parent, '', 'dind mode without idle writes cgroup_parent ""');
            }
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        });

        it('credentials reach the container only through secretKeyRef, never in plain env, the ConfigMap or annotations', () => {
          const creds = values.credentials as Values;
          const secrets = [
            creds.influxdbPassword,
            creds.metricsToken,
            ...(Array.isArray(creds.influxdbUrl) ? (creds.influxdbUrl as unknown[]) : [creds.influxdbUrl]),
          ].filter((s): s is string => typeof s === 'string' && s !== '');
          const secret: (K8sObject & { data?: Record<string, string> }) | undefined = objects.find(
            (o) => o.kind === 'Secret',
          );
          const outsideSecret = objects
            .filter((o) => o.kind !== 'Secret')
            .map((o) => JSON.stringify(o))
            .join('\n');
          for (const s of secrets) assert.ok(!outsideSecret.includes(s), 'a credential leaks outside the Secret');
          const decoded = (key: string): string | undefined => {
            const b64 = secret?.data?.[key];
            return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
          };
          if (creds.influxdbPassword && !creds.existingSecret)
            assert.equal(decoded('influxdb-password'), creds.influxdbPassword);
          if (creds.metricsToken && !creds.existingSecret) assert.equal(decoded('metrics-token'), creds.metricsToken);
          if (creds.influxdbUrl && !creds.existingSecret) {
            const urls = Array.isArray(creds.influxdbUrl) ? creds.influxdbUrl : [creds.influxdbUrl];
            assert.deepEqual(
              JSON.parse(decoded('influxdb-url') ?? 'null'),
              urls,
              'influxdb-url is not the JSON list of the URLs',
            );
          }
          const c = podSpec(objects).containers.find((x) => x.name === 'plancton');
          for (const e of c?.env ?? []) {
            if (/PASSWORD|INFLUXDB_URL|TOKEN/.test(e.name)) {
              assert.equal(e.value, undefined, `${e.name} has a plain value`);
              assert.ok(e.valueFrom?.secretKeyRef, `${e.name} not from a Secret`);
            }
          }
          if (secrets.length > 0) assert.ok(secret, 'credentials given, no Secret rendered');
          if (creds.existingSecret) {
            assert.equal(secret, undefined, 'existingSecret set, yet the chart made a Secret');
            const refs = (c?.env ?? []).map((e) => e.valueFrom?.secretKeyRef?.name).filter(Boolean);
            assert.ok(refs.length > 0 && refs.every((n) => n === creds.existingSecret));
          }
        });

        it('the metrics token reaches Plancton from a Secret, and the ServiceMonitor sends it from the same one', () => {
          const creds = values.credentials as { existingSecret: string; metricsToken: string };
          const keys = (values.credentials as Values).existingSecretKeys as { metricsToken: string };
          const key = creds.existingSecret ? keys.metricsToken : creds.metricsToken ? 'metrics-token' : '';
          const secretName = creds.existingSecret || objects.find((o) => o.kind === 'Secret')?.metadata.name;
          const c = podSpec(objects).containers.find((x) => x.name === 'plancton');
          const env = c?.env?.find((e) => e.name === 'PLANCTON_METRICS_TOKEN');
          const monitor = objects.find((o) => o.kind === 'ServiceMonitor') as
            (K8sObject & { spec: { endpoints: Array<{ authorization?: unknown }> } }) | undefined;
          if (!key) {
            assert.equal(env, undefined, 'a token variable with no token');
            assert.equal(monitor?.spec.endpoints[0]?.authorization, undefined);
            return;
          }
          // a named key must be there: not optional, so that /metrics is never served unprotected by mistake
          assert.deepEqual(env?.valueFrom?.secretKeyRef, { name: secretName, key });
          assert.equal(env?.value, undefined);
          if (monitor)
            assert.deepEqual(monitor.spec.endpoints[0]?.authorization, {
              type: 'Bearer',
              credentials: { name: secretName, key },
            });
        });

        it('kubectl decodes every built-in object into its typed API structs, offline', async () => {
          const builtIn = objects.filter((o) => !o.apiVersion.includes('coreos.com'));
          const r = await kubectlDecode(
            kubectl,
            builtIn.filter((o) => o.kind === 'DaemonSet'),
          );
          assert.equal(r.exitCode, 0, r.stderr);
          const ds = JSON.parse(r.stdout) as { kind: string; spec: { template: { spec: PodSpec } } };
          assert.equal(ds.kind, 'DaemonSet');
          assert.deepEqual(
            ds.spec.template.spec.containers.map((x) => x.name),
            podSpec(objects).containers.map((x) => x.name),
          );
        });
      });
    }
  }

  it("kubectl's offline decoding does catch a wrongly typed field (so the check above can fail)", async () => {
    const { objects } = await renderChart(helmTools().helm[0]?.bin ?? '', [resolve(CI_DIR, 'default-values.yaml')]);
    const ds = structuredClone(one(objects, 'DaemonSet')) as K8sObject & {
      spec: { template: { spec: { containers: Array<Record<string, unknown>> } } };
    };
    const c = ds.spec.template.spec.containers[0] as Record<string, unknown>;
    c.ports = [{ name: 'metrics', containerPort: 'nine-thousand' }];
    const r = await kubectlDecode(kubectl, [ds]);
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /containerPort/);
  });

  it('dind top-level placement: refused without hostCgroup or with cgroup_parent "", and an unknown placement by the schema', async () => {
    for (const h of helms) {
      const dind = ['--set', 'engine.mode=dind'];
      const noCgroup = await run(h.bin, ['template', 't', CHART_DIR, ...dind, '--set', 'hostCgroup.enabled=false']);
      assert.notEqual(noCgroup.exitCode, 0, h.name);
      assert.match(noCgroup.stderr, /engine\.dind\.placement top-level needs hostCgroup\.enabled/);
      const noParent = await run(h.bin, ['template', 't', CHART_DIR, ...dind, '--set-string', 'config.cgroup_parent=']);
      assert.notEqual(noParent.exitCode, 0, h.name);
      assert.match(noParent.stderr, /engine\.dind\.placement top-level needs a cgroup_parent/);
      const inPod = ['--set', 'engine.dind.placement=in-pod', '--set', 'hostCgroup.enabled=false'];
      assert.equal((await run(h.bin, ['template', 't', CHART_DIR, ...dind, ...inPod])).exitCode, 0, h.name);
      const bad = await run(h.bin, ['template', 't', CHART_DIR, ...dind, '--set', 'engine.dind.placement=node']);
      assert.notEqual(bad.exitCode, 0, h.name);
    }
  });

  it('helm lint --strict fails on values the schema refuses (so the lint above can fail)', async () => {
    for (const h of helms) {
      const r = await run(h.bin, ['lint', '--strict', CHART_DIR, '--set', 'engine.mode=podman']);
      assert.notEqual(r.exitCode, 0, `${h.name} accepted engine.mode=podman`);
    }
  });
});
