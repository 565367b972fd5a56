import { stringify } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import type { LoadedConfig } from '../config/load.ts';
import { influxUrls } from '../config/schema/influx-url.ts';
import { KEYS, SENSITIVE_KEYS } from '../config/schema/keys.ts';
import { FetchError } from '../config/source/fetch-text.ts';
import { maskUrl } from '../config/source/mask.ts';
import type { Cli } from './args.ts';
import { loadFor, pathsOf, sourceFor } from './setup.ts';
import { poolsHash } from '../config/pools.ts';

/** Hides the secrets: passwords inside the InfluxDB URLs, and every other sensitive key (passwords) whole. */
export function masked(config: LoadedConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of KEYS) out[k] = SENSITIVE_KEYS.has(k) && config.settings[k] ? '***' : config.settings[k];
  const urls = influxUrls(config.settings.influxdb_url).map((u) => maskUrl(u));
  out.influxdb_url = urls.length ? urls : null;
  if (config.settings.metrics_token) out.metrics_token = '***';
  return out;
}

/**
 * `config check [FILE]` validates and prints the effective configuration (exit 0, warnings on
 * stderr); with errors, names each bad key and exits 2. `config show` also prints where each
 * value came from.
 */
export async function configCommand(
  cli: Cli,
  sub: string | undefined,
  file: string | undefined,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const paths = pathsOf(cli);
  let config: LoadedConfig;
  try {
    config = await loadFor(cli, paths, file, true);
  } catch (e) {
    if (e instanceof FetchError) {
      err.write(`configuration could NOT BE FETCHED: ${e.message}\n`);
      return 1;
    }
    if (!(e instanceof ConfigError)) throw e;
    for (const w of e.warnings) err.write(`warning: ${w}\n`);
    err.write(`configuration is INVALID (${file ?? sourceFor(cli, paths).description}):\n`);
    for (const p of e.problems) err.write(`  ${p.key}: ${p.message}\n`);
    return 2;
  }
  for (const w of config.warnings) err.write(`warning: ${w}\n`);
  const values = masked(config);
  if (cli.opts.json) {
    out.write(
      `${JSON.stringify(sub === 'show' ? { source: config.source, hash: poolsHash(config.pools), values, origins: config.origins } : values, null, 2)}\n`,
    );
  } else if (sub === 'show') {
    out.write(`# source: ${config.source}; pilot hash ${poolsHash(config.pools)}\n`);
    for (const k of KEYS)
      out.write(`${stringify({ [k]: values[k] }, { lineWidth: 0 }).trimEnd()}  # ${config.origins[k]}\n`);
  } else {
    out.write(stringify(values, { lineWidth: 0 }));
    err.write(`configuration is valid (${config.source})\n`);
  }
  return 0;
}
