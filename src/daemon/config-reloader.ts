import { ConfigError } from '../core/errors.ts';
import type { LoadedConfig } from '../config/load.ts';
import { KEYS, START_ONLY_KEYS } from '../config/schema/keys.ts';
import type { Logger } from '../report/logger.ts';
import type { Clock } from '../common/clock.ts';
import { poolsHash } from '../config/pools.ts';

/** The whole reload (fetch and parse) must be over within this by default (ms): the config URL's own deadline is 30 s. */
export const RELOAD_DEADLINE_MS = 60_000;

export interface ReloaderDeps {
  /** Reads the configuration anew; throws ConfigError when it is invalid; gives up when `signal` aborts. */
  readonly load: (signal: AbortSignal) => Promise<LoadedConfig>;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The daemon's stop: a reload in flight is given up at once, and none is started after it. */
  readonly stop: AbortSignal;
  /** The whole reload, fetch and parse, must be over within this (ms). */
  readonly deadlineMs?: number | undefined;
}

/**
 * Re-reads the configuration every `updateconfig` seconds, beside the control loop: a reload runs
 * on its own (a configuration server that stalls holds the reload, never a pass) under a total
 * deadline that the daemon's stop cancels, and the loop takes what it brought at a pass boundary.
 * Meanwhile, and after a reload that fails, the last good configuration stays in force; a failure
 * says which key is wrong and why (once per distinct error); a success logs what changed and which
 * changes wait for a restart.
 */
export class ConfigReloader {
  readonly #d: ReloaderDeps;
  #current: LoadedConfig;
  #next: number;
  #error: string | undefined;
  /** The reload in flight; undefined when none. */
  #inFlight: Promise<void> | undefined;
  /** What the last reload brought, not yet taken by a pass. */
  #arrived: LoadedConfig | undefined;

  constructor(initial: LoadedConfig, deps: ReloaderDeps) {
    this.#d = deps;
    this.#current = initial;
    this.#next = deps.clock.now() + initial.settings.updateconfig * 1000;
  }

  get current(): LoadedConfig {
    return this.#current;
  }

  /** The last reload's problem, while the last good configuration stays in force. */
  get error(): string | undefined {
    return this.#error;
  }

  /** Whether a reload is under way (for tests and status). */
  get reloading(): boolean {
    return this.#inFlight !== undefined;
  }

  /**
   * At a pass boundary: takes the configuration a reload brought since the last pass (returned;
   * undefined when none), and starts the next reload beside the loop when one is due. Never waits.
   */
  poll(now: number): LoadedConfig | undefined {
    const taken = this.#arrived === undefined ? undefined : this.#take(this.#arrived);
    if (this.#inFlight === undefined && now >= this.#next && !this.#d.stop.aborted) this.#start(now);
    return taken;
  }

  /** Settles when the reload in flight (if any) has ended. */
  async settled(): Promise<void> {
    await this.#inFlight;
  }

  #start(now: number): void {
    this.#next = now + this.#current.settings.updateconfig * 1000;
    const deadlineMs = this.#d.deadlineMs ?? RELOAD_DEADLINE_MS;
    const cut = new AbortController();
    const signal = AbortSignal.any([this.#d.stop, cut.signal]);
    // the deadline holds even for a loader that does not heed its signal: the reload ends, and the next one may start
    const timer = this.#d.clock.sleep(deadlineMs, signal).then(
      () => {
        throw new Error(`no configuration within ${deadlineMs / 1000} s`);
      },
      () => new Promise<never>(() => undefined),
    );
    const stopped = new Promise<never>((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
    });
    this.#inFlight = Promise.race([this.#d.load(signal), timer, stopped])
      .then(
        (next) => {
          this.#arrived = next;
        },
        (err: unknown) => this.#failed(err),
      )
      .finally(() => {
        cut.abort();
        this.#inFlight = undefined;
      });
  }

  #failed(err: unknown): void {
    if (this.#d.stop.aborted) return; // the daemon's stop gave it up: nothing to report
    const message =
      err instanceof ConfigError
        ? err.problems.map((p) => `${p.key}: ${p.message}`).join('; ')
        : (err as Error).message;
    if (message !== this.#error)
      this.#d.logger.error(`configuration reload failed, keeping the last good one: ${message}`);
    this.#error = message;
  }

  /** Puts `next` in force, saying what changed; returned for the reporters. */
  #take(next: LoadedConfig): LoadedConfig {
    this.#arrived = undefined;
    const logger = this.#d.logger;
    const changed = KEYS.filter((k) => JSON.stringify(next.settings[k]) !== JSON.stringify(this.#current.settings[k]));
    if (changed.length) {
      logger.info('configuration reloaded', { changed, hash: poolsHash(next.pools) });
      const restart = changed.filter((k) => START_ONLY_KEYS.has(k));
      if (restart.length) logger.warn(`changes to ${restart.join(', ')} take effect at the next restart`);
      for (const w of next.warnings) logger.warn(w);
      if (next.settings.log_level !== this.#current.settings.log_level) logger.level = next.settings.log_level;
    }
    this.#current = next;
    this.#error = undefined;
    return next;
  }
}
