import type { LoadedConfig } from '../config/load.ts';
import type { Identity } from '../core/pilot-shape.ts';
import { parseListenAddress } from '../config/schema/listen-address.ts';
import { InfluxWriter } from './influx-writer.ts';
import type { Logger } from './logger.ts';
import type { Reporter } from './reporter.ts';

/**
 * The reporters of `plancton run`: the InfluxDB writer, and the metrics and their HTTP server
 * when `metrics_listen` is set. The writer is built even without `influxdb_url` (it then holds
 * no target and does nothing), because `influxdb_url` takes effect on a reload, as in 0.6;
 * `metrics_listen` is read at start only. Rejects when the address is invalid (ConfigError) or
 * cannot be bound (a port in use says so).
 */
export async function createReporters(
  config: LoadedConfig,
  ctx: { logger: Logger; identity: Identity },
): Promise<Reporter[]> {
  const address = parseListenAddress(config.settings.metrics_listen);
  const influx = new InfluxWriter(config.settings, { hostname: ctx.identity.hostname, logger: ctx.logger });
  if (!address) return [influx];
  // loaded only when asked for: prom-client costs about 20 MiB
  const [{ PlanctonMetrics }, { MetricsServer }] = await Promise.all([
    import('./metrics.ts'),
    import('./http-server.ts'),
  ]);
  const metrics = new PlanctonMetrics({ identity: ctx.identity, influx: () => influx.stats() });
  try {
    const server = await MetricsServer.start(address, {
      registry: metrics.registry,
      logger: ctx.logger,
      token: config.settings.metrics_token || undefined,
    });
    return [influx, metrics, server];
  } catch (err) {
    await Promise.all([influx.close(), metrics.close()]);
    throw err;
  }
}
