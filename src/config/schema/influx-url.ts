import type { ConfigProblem } from '../../core/errors.ts';

/** One InfluxDB 1.x target parsed from 0.6's `[insecure_https:]http(s)://[user:pass@]host:port#database`. */
export interface InfluxTarget {
  readonly protocol: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly insecure: boolean;
}

const INSECURE = 'insecure_https:';

/** Parses one URL; throws an Error whose message never contains the credentials. */
export function parseInfluxUrl(raw: string): InfluxTarget {
  const insecure = raw.startsWith(INSECURE);
  const text = insecure ? raw.slice(INSECURE.length) : raw;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('is not a URL of the form http(s)://host:port#database');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`protocol ${url.protocol} is not http or https`);
  if (insecure && url.protocol !== 'https:') throw new Error('insecure_https: goes with an https URL');
  const database = decodeURIComponent(url.hash.replace(/^#/, ''));
  if (!database) throw new Error('names no database: add #database at the end');
  return {
    protocol: url.protocol === 'https:' ? 'https' : 'http',
    host: url.hostname,
    port: url.port ? Number(url.port) : 8086,
    database,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    insecure,
  };
}

/** Normalizes `influxdb_url` (null, one URL or a list) to a list. */
export function influxUrls(value: string | readonly string[] | null): string[] {
  if (value === null || value === '') return [];
  return typeof value === 'string' ? [value] : [...value];
}

export function checkInfluxUrls(value: string | readonly string[] | null, problems: ConfigProblem[]): void {
  influxUrls(value).forEach((u, i) => {
    try {
      parseInfluxUrl(u);
    } catch (err) {
      problems.push({ key: `influxdb_url[${i}]`, message: (err as Error).message });
    }
  });
}
