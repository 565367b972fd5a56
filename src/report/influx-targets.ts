import type { Settings } from '../config/schema/keys.ts';
import { influxUrls, parseInfluxUrl, type InfluxTarget } from '../config/schema/influx-url.ts';

/** One place to write to, with its credentials resolved and a name safe to print. */
export interface ResolvedTarget {
  readonly target: InfluxTarget;
  /** `http(s)://host:port#database` (with `insecure_https:` when set): never the credentials. */
  readonly label: string;
  /** What must never appear in a log line or an error message. */
  readonly secrets: readonly string[];
  /** Identity for reloads: equal keys mean the same destination with the same credentials. */
  readonly key: string;
}

function hostPart(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** `http(s)://host:port#database`, without user or password. */
export function targetLabel(t: InfluxTarget): string {
  return `${t.insecure ? 'insecure_https:' : ''}${t.protocol}://${hostPart(t.host)}:${t.port}#${t.database}`;
}

/**
 * The targets of `influxdb_url`: credentials come from the URL, else from `influxdb_username` /
 * `influxdb_password`. A URL that does not parse throws an Error naming its position only (the
 * configuration loader has already refused such URLs; this is for direct callers).
 */
export function resolveTargets(
  settings: Pick<Settings, 'influxdb_url' | 'influxdb_username' | 'influxdb_password'>,
): ResolvedTarget[] {
  return influxUrls(settings.influxdb_url).map((raw, i) => {
    let parsed: InfluxTarget;
    try {
      parsed = parseInfluxUrl(raw);
    } catch (err) {
      throw new Error(`influxdb_url[${i}] ${(err as Error).message}`);
    }
    const fromUrl = parsed.username !== undefined;
    const target: InfluxTarget = {
      ...parsed,
      username: fromUrl ? parsed.username : settings.influxdb_username || undefined,
      password: fromUrl ? parsed.password : settings.influxdb_password || undefined,
    };
    const secrets = [target.username, target.password].filter((s): s is string => s !== undefined && s !== '');
    // the form they travel in, in the Authorization header
    if (secrets.length)
      secrets.push(Buffer.from(`${target.username ?? ''}:${target.password ?? ''}`).toString('base64'));
    return {
      target,
      label: targetLabel(target),
      secrets,
      key: JSON.stringify([targetLabel(target), target.username ?? '', target.password ?? '']),
    };
  });
}

/** `text` with every secret (as written and URL-encoded) replaced by `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (!s) continue;
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('***');
  }
  return out;
}
