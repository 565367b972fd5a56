/**
 * The `config` part of the Helm chart's values.schema.json, generated from Plancton's own schema
 * (src/config/schema/keys.ts) so the two cannot drift: `node test/support/helm-schema.ts` prints it,
 * `node test/support/helm-schema.ts --write` puts it into helm/plancton/values.schema.json.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeKey, KEYS, newConfig, type Settings } from '../../src/config/schema/keys.ts';
import { BOUNDS, POOL_KEYS } from '../../src/config/schema/keys.ts';
import { CGROUP_NAME_PATTERN, GRANT_PATTERN, SIGNAL_NAMES, TOKEN_PATTERN } from '../../src/config/schema/formats.ts';
import { IMAGE_REFERENCE_PATTERN } from '../../src/config/schema/image-ref.ts';
import { POOL_NAME, SHARE_MAX } from '../../src/config/pools.ts';

export const CHART_DIR = resolve(import.meta.dirname, '../../helm/plancton');
export const VALUES_SCHEMA_FILE = resolve(CHART_DIR, 'values.schema.json');

export type JsonSchema = Record<string, unknown>;

/**
 * Keys the chart does not take in `config`, and why: it sets them itself (environment variables
 * win over the file, so a value here would be silently overridden), or they are credentials.
 */
export const NOT_IN_CONFIG: Readonly<Partial<Record<keyof Settings, string>>> = {
  hostname:
    'Set by the chart to the node name (downward API spec.nodeName), so pilots and the instance id follow the node.',
  host_proc: "Set by the chart: the node's /proc is mounted at /host/proc.",
  docker_socket: 'Set by the chart from engine.mode.',
  host_cgroup:
    "The chart mounts the node's cgroup filesystem at /sys/fs/cgroup (hostCgroup.enabled), where Plancton looks by default.",
  influxdb_password:
    'A credential: set credentials.influxdbPassword or credentials.existingSecret, so it lands in a Secret, not in the ConfigMap.',
  metrics_token:
    'A credential: set credentials.metricsToken, or credentials.existingSecret with credentials.existingSecretKeys.metricsToken, so it lands in a Secret, not in the ConfigMap.',
  registry_auth_file:
    'Set by the chart when registryAuth.existingSecret is given: that Secret is mounted at /etc/plancton-registry/config.json.',
  registry_username:
    'A credential: put the registry login in a Secret (kubectl create secret docker-registry) and name it in registryAuth.existingSecret.',
  registry_password:
    'A credential: put the registry login in a Secret (kubectl create secret docker-registry) and name it in registryAuth.existingSecret.',
};

/** Chart rules added to a key's type; the description says why. */
const CHART_RULES: Readonly<Partial<Record<keyof Settings, { note: string; schema: JsonSchema }>>> = {
  influxdb_url: {
    note: 'Here only URLs without user:password (no "@"): URLs with credentials go in credentials.influxdbUrl (a Secret).',
    schema: { pattern: '^[^@]*$', items: { type: 'string', pattern: '^[^@]*$' } },
  },
};

const NON_BLANK = '\\S';

/** Plancton's convict formats (src/config/schema/formats.ts) as JSON Schema, at the level of types and ranges. */
const FORMATS: Readonly<Record<string, JsonSchema>> = {
  seconds: { type: 'number', minimum: 0 },
  positive: { type: 'number', exclusiveMinimum: 0 },
  'non-negative': { type: 'number', minimum: 0 },
  'non-negative-int': { type: 'integer', minimum: 0 },
  bool: { type: 'boolean' },
  'string-list': { type: 'array', items: { type: 'string' } },
  text: { type: 'string' },
  'non-empty': { type: 'string', pattern: NON_BLANK },
  user: { type: 'string', pattern: '^([\\w.-]+(:[\\w.-]+)?)?$' },
  command: { type: ['string', 'array'], pattern: NON_BLANK, minItems: 1, items: { type: 'string' } },
  'number-or-expression': { type: ['number', 'string'], pattern: NON_BLANK },
  'device-list': {
    type: 'array',
    items: {
      type: ['string', 'object'],
      required: ['PathOnHost'],
      additionalProperties: false,
      properties: {
        PathOnHost: { type: 'string' },
        PathInContainer: { type: 'string' },
        CgroupPermissions: { type: 'string' },
      },
    },
  },
  'url-list': { type: ['null', 'string', 'array'], items: { type: 'string' } },
  signal: { type: 'string', enum: [...SIGNAL_NAMES] },
  image: { type: 'string', pattern: IMAGE_REFERENCE_PATTERN, maxLength: 512 },
  'cgroup-name': { type: 'string', pattern: CGROUP_NAME_PATTERN },
  token: { type: 'string', pattern: TOKEN_PATTERN },
  'host-power-list': { type: 'array', items: { type: 'string', pattern: GRANT_PATTERN } },
  'optional-command': { type: ['string', 'array'], items: { type: 'string' } },
  // Plancton's loader checks the pattern and the zone itself (node-cron, Intl); the chart checks the type
  cron: { type: 'string' },
  timezone: { type: 'string' },
  'bytes-or-percent': {
    type: ['number', 'string'],
    minimum: 0,
    pattern: '^\\s*0*(100(\\.0+)?|[0-9]{1,2}(\\.[0-9]+)?)\\s*%\\s*$',
  },
};

/** Each key's convict format: a format name, or the list of allowed values. */
export function formatsOf(): Record<keyof Settings, string | readonly string[]> {
  const schema = newConfig({}, []).getSchema() as unknown as { _cvtProperties?: Record<string, { format?: unknown }> };
  const props = schema._cvtProperties;
  if (!props) throw new Error("convict's getSchema() no longer has _cvtProperties: adapt formatsOf()");
  const out = {} as Record<keyof Settings, string | readonly string[]>;
  for (const key of KEYS) {
    const format = props[key]?.format;
    if (typeof format !== 'string' && !(Array.isArray(format) && format.every((v) => typeof v === 'string'))) {
      throw new Error(`format of ${key} is neither a name nor a list of values`);
    }
    out[key] = format;
  }
  return out;
}

function typeOf(key: keyof Settings, format: string | readonly string[]): JsonSchema {
  if (Array.isArray(format)) return { type: 'string', enum: [...(format as readonly string[])] };
  if (format === 'pool-list') return poolListSchema();
  const known = FORMATS[format as string];
  if (!known)
    throw new Error(
      `no JSON Schema for format "${String(format)}" of ${key}: add it to FORMATS in test/support/helm-schema.ts`,
    );
  return withBounds(key, structuredClone(known));
}

/** `pools`: a list of mappings with a name, a share and the pool keys, each typed as at the top level. */
function poolListSchema(): JsonSchema {
  const formats = formatsOf();
  const properties: Record<string, JsonSchema> = {
    name: { type: 'string', pattern: POOL_NAME.source },
    share: { type: 'number', exclusiveMinimum: 0, maximum: SHARE_MAX },
  };
  for (const key of POOL_KEYS) properties[key] = typeOf(key, formats[key]);
  return { type: 'array', items: { type: 'object', required: ['name'], additionalProperties: false, properties } };
}

/** The numeric bounds Plancton checks (src/config/schema/bounds.ts), as minimum/maximum; values allowed under the minimum (0: off) as an alternative. */
function withBounds(key: keyof Settings, schema: JsonSchema): JsonSchema {
  const b = (BOUNDS as Partial<Record<string, (typeof BOUNDS)[keyof typeof BOUNDS]>>)[key];
  if (!b) return schema;
  const bounded: JsonSchema = { ...schema, minimum: b.min, maximum: b.max };
  delete bounded.exclusiveMinimum;
  if (b.integer && bounded.type === 'number') bounded.type = 'integer';
  if (!b.also?.length) return bounded;
  // a number under the minimum that means "off" (0); other types (e.g. "10%") are left to the outer schema
  const { minimum, maximum, ...others } = bounded;
  return { ...others, anyOf: [{ minimum, maximum }, { enum: [...b.also] }] };
}

/** The schema of the chart's `config` value: every key of Plancton's configuration. */
export function configSchema(): JsonSchema {
  const formats = formatsOf();
  const properties: Record<string, JsonSchema> = {};
  for (const key of KEYS) {
    const d = describeKey(key);
    const refused = NOT_IN_CONFIG[key];
    if (refused) {
      properties[key] = { description: `${d.doc} Not accepted here: ${refused}`, not: {} };
      continue;
    }
    const rule = CHART_RULES[key];
    properties[key] = {
      description: `${d.doc}${rule ? ` ${rule.note}` : ''} (${d.env}; default ${JSON.stringify(d.default)})`,
      ...typeOf(key, formats[key]),
      ...rule?.schema,
    };
  }
  return {
    description:
      "Plancton's configuration, rendered as /etc/plancton/config.yaml. Generated from src/config/schema/keys.ts by test/support/helm-schema.ts.",
    type: 'object',
    additionalProperties: false,
    properties,
  };
}

/** values.schema.json as stored. */
export function readValuesSchema(): JsonSchema {
  return JSON.parse(readFileSync(VALUES_SCHEMA_FILE, 'utf8')) as JsonSchema;
}

/** values.schema.json with its `config` part regenerated, as the text to store. */
export function valuesSchemaText(): string {
  const schema = readValuesSchema();
  const properties = schema.properties as Record<string, JsonSchema>;
  properties.config = configSchema();
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--write')) writeFileSync(VALUES_SCHEMA_FILE, valuesSchemaText());
  else console.log(JSON.stringify(configSchema(), null, 2));
}
