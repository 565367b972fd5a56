import { ConfigError } from '../core/errors.ts';
import type { LoadedConfig } from '../config/load.ts';
import { KEYS, START_ONLY_KEYS } from '../config/schema.ts';
import type { Logger } from '../report/logger.ts';

/**
 * Re-reads the configuration every `updateconfig` seconds. A reload that fails keeps the last
 * good configuration and says which key is wrong and why (once per distinct error); one that
 * succeeds logs what changed and which changes wait for a restart.
 */
export class ConfigReloader {
  readonly #load: () => Promise<LoadedConfig>;
  readonly #logger: Logger;
  #current: LoadedConfig;
  #next: number;
  #error: string | undefined;

  constructor(initial: LoadedConfig, load: () => Promise<LoadedConfig>, logger: Logger, now: number) {
    this.#current = initial;
    this.#load = load;
    this.#logger = logger;
    this.#next = now + initial.settings.updateconfig * 1000;
  }

  get current(): LoadedConfig {
    return this.#current;
  }

  /** The last reload's problem, while the last good configuration stays in force. */
  get error(): string | undefined {
    return this.#error;
  }

  /** Reloads when due; resolves to the new configuration when one was taken, else undefined. */
  async maybeReload(now: number): Promise<LoadedConfig | undefined> {
    if (now < this.#next) return undefined;
    this.#next = now + this.#current.settings.updateconfig * 1000;
    let next: LoadedConfig;
    try {
      next = await this.#load();
    } catch (err) {
      const message =
        err instanceof ConfigError
          ? err.problems.map((p) => `${p.key}: ${p.message}`).join('; ')
          : (err as Error).message;
      if (message !== this.#error)
        this.#logger.error(`configuration reload failed, keeping the last good one: ${message}`);
      this.#error = message;
      return undefined;
    }
    const changed = KEYS.filter((k) => JSON.stringify(next.settings[k]) !== JSON.stringify(this.#current.settings[k]));
    if (changed.length) {
      this.#logger.info('configuration reloaded', { changed, hash: next.hash });
      const restart = changed.filter((k) => START_ONLY_KEYS.has(k));
      if (restart.length) this.#logger.warn(`changes to ${restart.join(', ')} take effect at the next restart`);
      for (const w of next.warnings) this.#logger.warn(w);
      if (next.settings.log_level !== this.#current.settings.log_level) this.#logger.level = next.settings.log_level;
    }
    this.#current = next;
    this.#error = undefined;
    this.#next = now + next.settings.updateconfig * 1000;
    return next;
  }
}
