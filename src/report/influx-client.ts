import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import type * as Influx from 'influx';
import type { IPoolOptions } from 'influx';
import type { InfluxTarget } from '../config/schema/influx-url.ts';
import type { Point } from './influx-points.ts';

/** What a sink needs of InfluxDB: the one seam the tests replace. */
export interface InfluxClient {
  /** Writes one batch; rejects on any failure (the caller keeps the points). */
  write(points: readonly Point[]): Promise<void>;
  createDatabase(): Promise<void>;
  /** Ends the connection and any request in flight at once. */
  destroy(): void;
}

export type InfluxClientFactory = (target: InfluxTarget, timeoutMs: number) => InfluxClient;

/**
 * The `influx` pool takes a failing host out of rotation for a growing time; the sink already
 * paces its retries (one attempt per flush interval), so hosts are never set aside.
 */
const NO_BACKOFF: NonNullable<IPoolOptions['backoff']> = {
  getDelay: () => 0,
  next: () => NO_BACKOFF,
  reset: () => NO_BACKOFF,
};

/** True when InfluxDB answered that the database does not exist (0.6 then created it). */
export function isDatabaseMissing(err: unknown): boolean {
  return /database not found/i.test((err as Error | undefined)?.message ?? '');
}

/**
 * A client of the `influx` package for one target. Its own agent holds at most one connection
 * (one write in flight, and a hung server costs one socket), skips TLS verification only for an
 * `insecure_https:` target, and can be destroyed to end a write that hangs at shutdown.
 */
export function influxClient(target: InfluxTarget, timeoutMs: number): InfluxClient {
  // loaded on the first target: a daemon that writes to no InfluxDB never holds the package (about 12 MiB)
  const { InfluxDB } = createRequire(import.meta.url)('influx') as typeof Influx;
  const agentOptions = { keepAlive: true, maxSockets: 1, maxFreeSockets: 1, timeout: timeoutMs };
  const agent =
    target.protocol === 'https'
      ? new https.Agent({ ...agentOptions, ...(target.insecure ? { rejectUnauthorized: false } : {}) })
      : new http.Agent(agentOptions);
  const db = new InfluxDB({
    host: target.host,
    port: target.port,
    protocol: target.protocol,
    database: target.database,
    // the package sends root:root when given none; an InfluxDB without auth ignores it either way
    ...(target.username !== undefined ? { username: target.username, password: target.password ?? '' } : {}),
    options: { agent, ...(target.insecure ? { rejectUnauthorized: false } : {}) },
    pool: { maxRetries: 0, requestTimeout: timeoutMs, backoff: NO_BACKOFF },
  });
  return {
    write: async (points) => {
      // the request timeout is an idle timeout: a server that trickles bytes is cut off here
      const deadline = setTimeout(() => agent.destroy(), 2 * timeoutMs).unref();
      try {
        await db.writePoints(
          points.map((p) => ({ ...p, tags: { ...p.tags }, fields: { ...p.fields } })),
          { precision: 'n' },
        );
      } finally {
        clearTimeout(deadline);
      }
    },
    createDatabase: () => db.createDatabase(target.database),
    destroy: () => agent.destroy(),
  };
}
