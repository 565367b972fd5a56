import type { Logger } from './logger.ts';
import { BoundedQueue } from './bounded-queue.ts';
import { isDatabaseMissing, type InfluxClient } from './influx-client.ts';
import type { Point } from './influx-points.ts';
import { redact, type ResolvedTarget } from './influx-targets.ts';

/** Points per write request; InfluxDB suggests batches of about 5000. */
export const MAX_BATCH = 5000;

/** A sink's figures, for /metrics and the `daemon_stats` series. */
export interface SinkStats {
  /** `http(s)://host:port#database`, never with credentials. */
  readonly target: string;
  readonly queued: number;
  readonly dropped: number;
  readonly written: number;
  readonly writeErrors: number;
  /** True while the last write failed. */
  readonly failing: boolean;
}

/**
 * One `influxdb_url`: its own bounded queue and client, and at most one write in flight, so that
 * a slow or dead InfluxDB holds one socket and a bounded backlog and nothing else.
 */
export class InfluxSink {
  readonly resolved: ResolvedTarget;
  readonly #client: InfluxClient;
  readonly #logger: Logger;
  readonly #queue: BoundedQueue<Point>;
  #flushing: Promise<void> | undefined;
  #writeErrors = 0;
  #failingSince: number | undefined;
  #failures = 0;
  #closed = false;

  constructor(resolved: ResolvedTarget, client: InfluxClient, queueSize: number, logger: Logger) {
    this.resolved = resolved;
    this.#client = client;
    this.#queue = new BoundedQueue<Point>(queueSize);
    this.#logger = logger;
  }

  enqueue(points: readonly Point[]): void {
    if (this.#closed) return;
    for (const p of points) this.#queue.push(p);
  }

  resize(queueSize: number): void {
    this.#queue.resize(queueSize);
  }

  stats(): SinkStats {
    return {
      target: this.resolved.label,
      queued: this.#queue.size,
      dropped: this.#queue.dropped,
      written: this.#queue.delivered,
      writeErrors: this.#writeErrors,
      failing: this.#failingSince !== undefined,
    };
  }

  /**
   * Writes what is queued, batch after batch, until the queue is empty or a write fails. While a
   * flush runs, another call returns the same promise: never two writes at once.
   */
  flush(): Promise<void> {
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /** Ends the client (and a write that hangs); queued points are lost. */
  close(): void {
    this.#closed = true;
    this.#client.destroy();
  }

  async #drain(): Promise<void> {
    let createdDb = false;
    while (!this.#closed) {
      const batch = this.#queue.begin(MAX_BATCH);
      if (batch.length === 0) return;
      try {
        await this.#client.write(batch);
        this.#queue.commit();
        this.#recovered();
      } catch (err) {
        this.#queue.abort();
        if (!createdDb && isDatabaseMissing(err) && (await this.#createDatabase())) {
          createdDb = true;
          continue;
        }
        this.#failed(err);
        return;
      }
    }
  }

  /** As 0.6: a write refused for a missing database creates it (needs admin rights; a failure is only logged). */
  async #createDatabase(): Promise<boolean> {
    const db = this.resolved.target.database;
    try {
      await this.#client.createDatabase();
      this.#logger.info(`InfluxDB ${this.resolved.label}: created database ${db}`);
      return true;
    } catch (err) {
      this.#logger.warn(
        `InfluxDB ${this.resolved.label}: database ${db} is missing and cannot be created: ${this.#message(err)}`,
      );
      return false;
    }
  }

  #failed(err: unknown): void {
    this.#writeErrors++;
    this.#failures++;
    const message = this.#message(err);
    if (this.#failingSince === undefined) {
      this.#failingSince = Date.now();
      this.#logger.warn(
        `InfluxDB ${this.resolved.label}: write failed, keeping up to ${this.#queue.capacity} points until it answers: ${message}`,
      );
    } else {
      this.#logger.debug(`InfluxDB ${this.resolved.label}: write failed again: ${message}`, {
        queued: this.#queue.size,
        dropped: this.#queue.dropped,
      });
    }
  }

  #recovered(): void {
    if (this.#failingSince === undefined) return;
    this.#logger.info(`InfluxDB ${this.resolved.label}: writing again`, {
      failedWrites: this.#failures,
      downSec: Math.round((Date.now() - this.#failingSince) / 1000),
      dropped: this.#queue.dropped,
    });
    this.#failingSince = undefined;
    this.#failures = 0;
  }

  #message(err: unknown): string {
    const text = err instanceof Error ? err.message || err.name : String(err);
    return redact(text, this.resolved.secrets).slice(0, 500);
  }
}
