import { existsSync } from 'node:fs';
import { ConfigError, type ConfigProblem } from '../core/errors.ts';
import { compileExpression, type CompiledExpression } from './expression/expression.ts';
import { pilotShape, type PilotShape } from './pilot-shape.ts';
import { envName, KEYS, newConfig, PILOT_KEYS, POOL_KEYS, type Settings } from './schema/keys.ts';
import { checkInfluxUrls } from './schema/influx-url.ts';
import { isLoopback, parseListenAddress } from './schema/listen-address.ts';
import { checkRegistryAuth } from './registry-auth-file.ts';
import { checkBounds } from './schema/check-bounds.ts';
import { gateHostPower, hostPowerOf, type HostPower, type PowerOrigin } from './schema/host-power.ts';
import { parseConfigText, readConfigFile } from './source/config-text.ts';
import { checkMaxDocks, MAX_DOCKS_NAMES, type HostFacts } from './expression/max-docks.ts';
import { defaultPool, loadPools, type LoadedPool } from './pools.ts';

/** Unknown keys named one by one in the warnings; the rest are counted. */
const MAX_UNKNOWN_NAMED = 20;

export type Origin = 'default' | 'file' | 'env' | 'arg';

/** A validated configuration and what was learned while loading it. */
export interface LoadedConfig {
  readonly settings: Readonly<Settings>;
  readonly warnings: readonly string[];
  /** Human-readable origin of the file part: a path, or `defaults` when there was no file. */
  readonly source: string;
  readonly origins: Readonly<Record<keyof Settings, Origin>>;
  /** Settings that give pilots power over the host (each also in `warnings`). */
  readonly hostPower: readonly HostPower[];
  /** The pools of pilots, in order (never empty): without `pools`, one named `default` of the top-level keys. */
  readonly pools: readonly LoadedPool[];
}

export interface LoadOptions {
  /** Configuration file; undefined for none. */
  readonly file?: string | undefined;
  /** When false, a missing file means "defaults" instead of an error (the implicit default path). */
  readonly fileRequired?: boolean;
  /** Text already fetched (e.g. from a URL), used instead of reading `file`; `file` then only names it. */
  readonly text?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly args: readonly string[];
  /** The host `max_docks` is evaluated on, as given (tests)... */
  readonly host?: HostFacts | undefined;
  /** ...or read from `host_proc` by this reader (the host layer's readHostFacts); with neither, max_docks is only compiled. */
  readonly hostFacts?: ((procRoot: string) => HostFacts) | undefined;
  /** True when `text` came from the config URL: it may not give pilots power over the host unless allowed locally. */
  readonly remote?: boolean | undefined;
  /** `allow_host_power` of the local file, when the configuration itself comes from the URL. */
  readonly allowHostPower?: readonly string[] | undefined;
}

/**
 * Loads default < file < environment < command line, validates every key, and throws one
 * ConfigError naming every bad key. Unknown keys are warnings, never errors.
 */
export function loadConfig(opts: LoadOptions): LoadedConfig {
  const warnings: string[] = [];
  const { values, source } = readFileValues(opts, warnings);
  const problems: ConfigProblem[] = [];
  const settings = settingsOf(values, source, opts, problems, warnings);
  // go on past convict's findings, so that one run names every bad key
  const bad = new Set(problems.map((p) => p.key));
  checkBounds(settings, bad, problems);
  for (const p of problems) bad.add(p.key);
  const { expr: maxDocks, facts } = maxDocksOf(settings, bad, opts, problems, warnings);
  let pilot: PilotShape | undefined;
  if (!PILOT_KEYS.some((k) => bad.has(k))) pilot = pilotShape(settings, problems);
  const pools = poolsOf(settings, { pilot, maxDocks, facts, bad, problems, warnings });
  if (!bad.has('influxdb_url')) checkInfluxUrls(settings.influxdb_url, problems);
  if (!['registry_auth_file', 'registry_username', 'registry_password'].some((k) => bad.has(k)))
    checkRegistryAuth(settings, problems);
  if (!bad.has('metrics_listen')) checkMetricsListen(settings, problems, warnings);
  const origins = originsOf(values, opts);
  const hostPower = bad.has('allow_host_power')
    ? []
    : [...hostPowerOf(settings, bad), ...poolPowers(pools ?? [], settings)];
  if (!bad.has('allow_host_power')) gate(settings, hostPower, origins, opts, problems, warnings);
  if (problems.length || !maxDocks || !pilot || !pools) throw new ConfigError(problems, { warnings });
  return { settings, warnings, source, origins, hostPower, pools };
}

/** The pools: those of `pools`, checked, or the one of the top-level keys; undefined when they cannot be made. */
function poolsOf(
  settings: Settings,
  ctx: {
    pilot: PilotShape | undefined;
    maxDocks: CompiledExpression | undefined;
    facts: HostFacts | undefined;
    bad: ReadonlySet<string>;
    problems: ConfigProblem[];
    warnings: string[];
  },
): LoadedPool[] | undefined {
  const { pilot, maxDocks, bad } = ctx;
  if (!pilot || !maxDocks || bad.has('pools') || POOL_KEYS.some((k) => bad.has(k))) return undefined;
  if (settings.pools.length === 0) return [defaultPool(settings, pilot, maxDocks)];
  return loadPools({ ...ctx, settings });
}

/** The host power of the keys each pool sets itself (inherited ones are the top level's), named `pools[i].key`. */
function poolPowers(pools: readonly LoadedPool[], settings: Settings): HostPower[] {
  return pools.flatMap((pool) => {
    const i = settings.pools.findIndex((p) => (p as { name?: unknown } | null)?.name === pool.name);
    return hostPowerOf(pool.settings)
      .filter((h) => pool.own.includes(h.setting))
      .map((h) => ({ ...h, key: `pools[${i}].${h.key}`, setting: 'pools' as const }));
  });
}

/** The file's known keys through convict, over defaults and under environment and command line; unknown keys are warnings. */
function settingsOf(
  values: Record<string, unknown>,
  source: string,
  opts: LoadOptions,
  problems: ConfigProblem[],
  warnings: string[],
): Settings {
  const conf = newConfig(opts.env, [...opts.args]);
  const known = new Set<string>(KEYS);
  const unknown = Object.keys(values).filter((k) => !known.has(k));
  for (const k of unknown.slice(0, MAX_UNKNOWN_NAMED))
    warnings.push(`unknown key '${k.slice(0, 80)}' in ${source} is ignored`);
  if (unknown.length > MAX_UNKNOWN_NAMED)
    warnings.push(`and ${unknown.length - MAX_UNKNOWN_NAMED} more unknown keys in ${source}, ignored`);
  // convict flattens mappings into dotted keys and then misses them: no key takes a mapping, so say so here.
  for (const [k, v] of Object.entries(values)) {
    if (known.has(k) && v !== null && typeof v === 'object' && !Array.isArray(v))
      problems.push({ key: k, message: 'must not be a mapping' });
  }
  const fileKnown = Object.fromEntries(
    Object.entries(values).filter(([k, v]) => known.has(k) && v !== null && !problems.some((p) => p.key === k)),
  );
  try {
    conf.load(fileKnown);
    conf.validate({ allowed: 'warn', output: () => undefined });
  } catch (err) {
    problems.push(...convictProblems(err));
  }
  return conf.getProperties();
}

/** max_docks compiled, and evaluated on this host (or the one given) when the keys it reads are good; the host's facts. */
function maxDocksOf(
  settings: Settings,
  bad: ReadonlySet<string>,
  opts: LoadOptions,
  problems: ConfigProblem[],
  warnings: string[],
): { expr?: CompiledExpression | undefined; facts?: HostFacts | undefined } {
  if (bad.has('max_docks')) return {};
  let maxDocks: CompiledExpression;
  try {
    maxDocks = compileExpression(String(settings.max_docks), MAX_DOCKS_NAMES);
  } catch (err) {
    problems.push({ key: 'max_docks', message: `${(err as Error).message} in "${String(settings.max_docks)}"` });
    return {};
  }
  if (bad.has('max_dock_mem') || bad.has('max_dock_swap')) return { expr: maxDocks };
  let facts = opts.host;
  if (!facts && opts.hostFacts && !bad.has('host_proc')) {
    try {
      facts = opts.hostFacts(settings.host_proc);
    } catch (err) {
      warnings.push(`max_docks is not checked against this host: ${(err as Error).message}`);
    }
  }
  if (facts) checkMaxDocks(settings, maxDocks, facts, problems, warnings);
  return { expr: maxDocks, facts };
}

function checkMetricsListen(settings: Settings, problems: ConfigProblem[], warnings: string[]): void {
  try {
    const address = parseListenAddress(settings.metrics_listen);
    if (address && !isLoopback(address.host)) {
      warnings.push(
        `metrics_listen "${settings.metrics_listen}" serves /metrics and /status beyond this host (pilots, configuration source, errors)${settings.metrics_token ? '' : ' to anyone: set metrics_token, or listen on 127.0.0.1'}`,
      );
    }
  } catch (err) {
    problems.push(...(err as ConfigError).problems);
  }
}

/** Settings that give pilots power over the host pass only from the local file, or as allow_host_power lists them. */
function gate(
  settings: Settings,
  hostPower: HostPower[],
  origins: Record<keyof Settings, Origin>,
  opts: LoadOptions,
  problems: ConfigProblem[],
  warnings: string[],
): void {
  const originOf = (k: keyof Settings): PowerOrigin => (origins[k] === 'file' && opts.remote ? 'remote' : origins[k]);
  const allowOrigin = originOf('allow_host_power');
  if (allowOrigin === 'env' || allowOrigin === 'remote') {
    problems.push({
      key: 'allow_host_power',
      message: `may be set only in the local configuration file or on the command line, not in ${allowOrigin === 'env' ? envName('allow_host_power') : 'the configuration URL or repository'}`,
    });
    return;
  }
  const allowed = new Set([...settings.allow_host_power, ...(opts.allowHostPower ?? [])]);
  gateHostPower(hostPower, originOf, allowed, envName, problems, warnings);
}

function readFileValues(opts: LoadOptions, warnings: string[]): { values: Record<string, unknown>; source: string } {
  if (opts.text !== undefined)
    return { values: parseConfigText(opts.text, opts.file ?? 'config'), source: opts.file ?? 'config' };
  if (!opts.file) return { values: {}, source: 'defaults' };
  if (!opts.fileRequired && !existsSync(opts.file)) {
    warnings.push(`no configuration file at ${opts.file}: running on defaults and environment`);
    return { values: {}, source: 'defaults' };
  }
  return { values: parseConfigText(readConfigFile(opts.file), opts.file), source: opts.file };
}

/** Convict reports every bad key on its own line as `key: message: value was ...`. */
function convictProblems(err: unknown): ConfigProblem[] {
  const message = err instanceof Error ? err.message : String(err);
  return message
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^([a-z_]+): (.*)$/s.exec(line);
      return m ? { key: m[1] ?? 'config', message: m[2] ?? line } : { key: 'config', message: line };
    });
}

function originsOf(values: Record<string, unknown>, opts: LoadOptions): Record<keyof Settings, Origin> {
  const args = opts.args.join(' ');
  const out = {} as Record<keyof Settings, Origin>;
  for (const key of KEYS) {
    if (new RegExp(`(^| )--${key}(=| |$)`).test(args)) out[key] = 'arg';
    else if (opts.env[envName(key)] !== undefined) out[key] = 'env';
    else if (values[key] !== undefined && values[key] !== null) out[key] = 'file';
    else out[key] = 'default';
  }
  return out;
}
