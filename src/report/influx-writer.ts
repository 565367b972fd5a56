import type { HostSample } from '../core/decision.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { Settings } from '../config/schema/keys.ts';
import type { Logger } from './logger.ts';
import { influxClient, type InfluxClientFactory } from './influx-client.ts';
import { iterationPoints, removalPoints } from './influx-points.ts';
import { InfluxSink, type SinkStats } from './influx-sink.ts';
import { resolveTargets } from './influx-targets.ts';
import type { Removal } from './removals.ts';
import type { Reporter } from './reporter.ts';
import type { StatusReport } from './status.ts';

type WriterSettings = Pick<
  Settings,
  'influxdb_url' | 'influxdb_username' | 'influxdb_password' | 'influxdb_queue_size' | 'influxdb_flush_interval'
>;

export interface InfluxWriterOptions {
  readonly hostname: string;
  readonly logger: Logger;
  /** Replaced by tests; the `influx` package otherwise. */
  readonly clientFactory?: InfluxClientFactory;
  /** Longest a write may take (default: the flush interval, between 1 and 10 s). */
  readonly writeTimeoutMs?: number;
  /** How long `close()` tries to write what is left (default 3 s). */
  readonly closeTimeoutMs?: number;
}

/** Totals over every target, for /metrics. */
export interface InfluxWriterStats {
  readonly queued: number;
  readonly dropped: number;
  readonly written: number;
  readonly writeErrors: number;
  readonly targets: readonly SinkStats[];
}

/**
 * The InfluxDB reporter: 0.6's series and the richer ones (see influx-points.ts) to every URL of
 * `influxdb_url`. `iteration()` and `removal()` only queue points; a timer writes them every
 * `influxdb_flush_interval` seconds, one write in flight per URL, each in a queue bounded by
 * `influxdb_queue_size` (the oldest dropped and counted past it). A reload may add, remove or
 * change URLs and resize the queues; an unchanged URL keeps its backlog.
 */
export class InfluxWriter implements Reporter {
  readonly #o: InfluxWriterOptions;
  readonly #factory: InfluxClientFactory;
  #sinks: InfluxSink[] = [];
  /** Totals of targets removed by a reload, so that the counters never go down. */
  #retired = { dropped: 0, written: 0, writeErrors: 0 };
  #settings: WriterSettings;
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #closed = false;

  constructor(settings: WriterSettings, o: InfluxWriterOptions) {
    this.#o = o;
    this.#factory = o.clientFactory ?? influxClient;
    this.#settings = settings;
    this.#apply(settings);
  }

  /** The targets, by label (never with credentials). */
  get targets(): string[] {
    return this.#sinks.map((s) => s.resolved.label);
  }

  iteration(report: StatusReport, sample: HostSample | undefined): void {
    if (this.#closed || this.#sinks.length === 0) return;
    const s = this.stats();
    const points = iterationPoints(report, sample, { queued: s.queued, dropped: s.dropped });
    for (const sink of this.#sinks) sink.enqueue(points);
  }

  removal(removal: Removal): void {
    if (this.#closed || this.#sinks.length === 0) return;
    const points = removalPoints(removal, this.#o.hostname, this.#seq++);
    for (const sink of this.#sinks) sink.enqueue(points);
  }

  configure(config: LoadedConfig): void {
    if (this.#closed) return;
    try {
      this.#apply(config.settings);
    } catch (err) {
      // the loader refuses bad URLs first; should one get here, the previous targets stay
      this.#o.logger.error(`InfluxDB targets not changed: ${(err as Error).message}`);
    }
  }

  stats(): InfluxWriterStats {
    const targets = this.#sinks.map((s) => s.stats());
    const sum = (k: 'queued' | 'dropped' | 'written' | 'writeErrors'): number =>
      targets.reduce((n, t) => n + t[k], k === 'queued' ? 0 : this.#retired[k]);
    return {
      queued: sum('queued'),
      dropped: sum('dropped'),
      written: sum('written'),
      writeErrors: sum('writeErrors'),
      targets,
    };
  }

  /** Writes what is queued now, to every target; resolves when each has written or failed. */
  async flush(): Promise<void> {
    await Promise.all(this.#sinks.map((s) => s.flush()));
  }

  /** A last flush, bounded in time, then every connection is closed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#timer);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#o.closeTimeoutMs ?? 3000)));
    // a flush in flight first, then one more for what arrived meanwhile
    await Promise.race([this.flush().then(() => this.flush()), deadline]);
    clearTimeout(timer);
    this.#closed = true;
    for (const s of this.#sinks) {
      // the final account of this run: what was written, dropped on the bound, and lost now
      const st = s.stats();
      this.#o.logger.info(`InfluxDB ${st.target}: writer closed`, {
        written: st.written,
        dropped: st.dropped,
        unwritten: st.queued,
      });
      s.close();
    }
  }

  #apply(settings: WriterSettings): void {
    const resolved = resolveTargets(settings);
    const previous = this.#settings;
    this.#settings = settings;
    const old = new Map(this.#sinks.map((s) => [s.resolved.key, s]));
    const timeoutMs =
      this.#o.writeTimeoutMs ?? Math.min(10_000, Math.max(1000, settings.influxdb_flush_interval * 1000));
    this.#sinks = resolved.map((r) => {
      const kept = old.get(r.key);
      old.delete(r.key);
      if (kept) {
        kept.resize(settings.influxdb_queue_size);
        return kept;
      }
      this.#o.logger.info(`writing monitoring to InfluxDB ${r.label}`, {
        flushIntervalSec: settings.influxdb_flush_interval,
        queueSize: settings.influxdb_queue_size,
      });
      return new InfluxSink(r, this.#factory(r.target, timeoutMs), settings.influxdb_queue_size, this.#o.logger);
    });
    for (const gone of old.values()) {
      const st = gone.stats();
      this.#o.logger.info(`no longer writing to InfluxDB ${gone.resolved.label}`, { discarded: st.queued });
      this.#retired = {
        dropped: this.#retired.dropped + st.dropped + st.queued,
        written: this.#retired.written + st.written,
        writeErrors: this.#retired.writeErrors + st.writeErrors,
      };
      gone.close();
    }
    if (this.#timer === undefined || previous.influxdb_flush_interval !== settings.influxdb_flush_interval) {
      clearInterval(this.#timer);
      // the daemon's loop, not this timer, decides when the process may exit
      this.#timer = setInterval(() => void this.flush(), settings.influxdb_flush_interval * 1000).unref();
    }
  }
}
