import { isIP } from 'node:net';
import { ConfigError } from '../../core/errors.ts';

/** Where to listen: `host` undefined means every interface. */
export interface ListenAddress {
  readonly host: string | undefined;
  readonly port: number;
}

/**
 * Parses `metrics_listen`: `host:port`, `[ipv6]:port`, or `:port` for every interface; empty
 * means off (undefined). Throws a ConfigError naming the key otherwise.
 */
export function parseListenAddress(value: string): ListenAddress | undefined {
  const text = value.trim();
  if (text === '') return undefined;
  const bad = (why: string): ConfigError =>
    new ConfigError([
      {
        key: 'metrics_listen',
        message: `${why} in "${text}": expected host:port, [ipv6]:port or :port (every interface)`,
      },
    ]);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(text);
  if (!m) throw bad('not an address');
  const port = Number(m[3]);
  if (port > 65535) throw bad('port out of range');
  const v6 = m[1];
  if (v6 !== undefined && isIP(v6) !== 6) throw bad('not an IPv6 address');
  const host = v6 ?? (m[2] || undefined);
  return { host, port };
}

/** Whether `host` (as parsed; undefined: every interface) reaches this host only. */
export function isLoopback(host: string | undefined): boolean {
  if (host === undefined) return false;
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}
