import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { loadConfig, type LoadedConfig } from './load.ts';
import { fetchText, safeUrl } from './fetch-text.ts';
import { parseConfigText, readConfigFile } from './config-text.ts';
import { GRANT_PATTERN } from './host-power.ts';
import { ConfigError } from '../core/errors.ts';
import type { Paths } from './paths.ts';

/** How the configuration text is found: 0.6's file, or 0.6's container variables for a URL. */
export interface SourceOptions {
  readonly paths: Paths;
  readonly env: NodeJS.ProcessEnv;
  readonly args: readonly string[];
  /** Where the last good text fetched from the URL is kept, to survive a restart with the server down. */
  readonly cacheFile?: string | undefined;
  readonly now?: () => number;
  readonly onWarning?: (message: string) => void;
}

/**
 * The configuration, loaded anew on every call: from `PLANCTON_CONF_URL` when set (re-fetched
 * every `PLANCTON_CONF_UPDATE` seconds; a failed fetch keeps the last good text), else from the
 * file; when the implicit default file is absent, from `PLANCTON_DEFAULT_CONFIG` (the image's
 * embedded default). Environment and command line go on top as always.
 */
export class ConfigSource {
  readonly #o: SourceOptions;
  readonly #url: string | undefined;
  #text: string | undefined;
  #nextFetch = 0;

  constructor(o: SourceOptions) {
    this.#o = o;
    this.#url = o.env.PLANCTON_CONF_URL || undefined;
  }

  /** What the configuration comes from, for status and logs (never with a password). */
  get description(): string {
    return this.#url ? safeUrl(this.#url) : this.#o.paths.configFile;
  }

  async load(): Promise<LoadedConfig> {
    const { paths, env, args } = this.#o;
    if (this.#url) return this.#loadUrl(this.#url);
    const fallback = env.PLANCTON_DEFAULT_CONFIG;
    if (!paths.configRequired && fallback && !existsSync(paths.configFile)) {
      return loadConfig({ file: fallback, fileRequired: true, env, args });
    }
    return loadConfig({ file: paths.configFile, fileRequired: paths.configRequired, env, args });
  }

  /** A fetched text becomes the last good one (and is cached) only once it validates. */
  async #loadUrl(url: string): Promise<LoadedConfig> {
    const { env, args } = this.#o;
    const allowHostPower = this.#localAllowance();
    const load = (text: string): LoadedConfig => loadConfig({ text, file: safeUrl(url), env, args, remote: true, allowHostPower });
    const now = (this.#o.now ?? Date.now)();
    if (this.#text !== undefined && now < this.#nextFetch) return load(this.#text);
    const every = Number(env.PLANCTON_CONF_UPDATE ?? '');
    this.#nextFetch = now + (Number.isFinite(every) && every > 0 ? every * 1000 : 0);
    let fetched: string;
    try {
      fetched = await fetchText(url, { insecure: /^(1|true|yes)$/i.test(env.PLANCTON_CONF_NOSSLVERIFY ?? '') });
    } catch (err) {
      this.#text ??= await this.#cached();
      if (this.#text === undefined) throw err;
      this.#o.onWarning?.(`${(err as Error).message}; keeping the last good configuration`);
      return load(this.#text);
    }
    const config = load(fetched); // throws ConfigError: the caller keeps its last good configuration
    if (fetched !== this.#text) {
      this.#text = fetched;
      if (this.#o.cacheFile) await this.#cache(fetched);
    }
    return config;
  }

  /**
   * With a URL, the local file (when there is one) still holds what only the local administrator
   * may say: `allow_host_power`. Nothing else is read from it.
   */
  #localAllowance(): string[] {
    const file = this.#o.paths.configFile;
    if (!existsSync(file)) return [];
    const value = parseConfigText(readConfigFile(file), file).allow_host_power;
    if (value === undefined || value === null) return [];
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || !list.every((e) => typeof e === 'string' && new RegExp(GRANT_PATTERN).test(e))) {
      throw new ConfigError([{ key: 'allow_host_power', message: `in ${file}: must be a list of entries such as docker_privileged or capabilities:SYS_ADMIN` }]);
    }
    return list as string[];
  }

  async #cache(text: string): Promise<void> {
    const file = this.#o.cacheFile ?? '';
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text, { mode: 0o600 });
  }

  async #cached(): Promise<string | undefined> {
    if (!this.#o.cacheFile) return undefined;
    return readFile(this.#o.cacheFile, 'utf8').catch(() => undefined);
  }
}
