import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { loadConfig, type LoadedConfig } from './load.ts';
import { fetchText, safeUrl } from './fetch-text.ts';
import type { Paths } from './paths.ts';
import { bootstrap } from './bootstrap.ts';
import { BootstrapError, DEFAULT_GIT_BASE, parseRepoSpec, safeGitUrl } from './bootstrap-spec.ts';

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
 * every `PLANCTON_CONF_UPDATE` seconds; a failed fetch keeps the last good text), or from the
 * clone of `PLANCTON_CONF_GIT` (`user/repo[:branch]` under `PLANCTON_CONF_GIT_BASE`) in the
 * configuration directory, updated as often and under the same last-good rule; else from the
 * file; when the implicit default file is absent, from `PLANCTON_DEFAULT_CONFIG` (the image's
 * embedded default). Environment and command line go on top as always.
 */
export class ConfigSource {
  readonly #o: SourceOptions;
  readonly #url: string | undefined;
  readonly #git: string | undefined;
  #text: string | undefined;
  #nextFetch = 0;
  #cloned = false;

  constructor(o: SourceOptions) {
    this.#o = o;
    this.#url = o.env.PLANCTON_CONF_URL || undefined;
    this.#git = o.env.PLANCTON_CONF_GIT?.trim() || undefined;
  }

  /** What the configuration comes from, for status and logs (never with a password). */
  get description(): string {
    if (this.#url) return safeUrl(this.#url);
    if (this.#git) return `${this.#o.paths.configFile} (git ${this.#git} from ${safeGitUrl(this.#gitBase)})`;
    return this.#o.paths.configFile;
  }

  /** True when the configuration comes from a server (URL or git): a first load that cannot reach it is worth retrying. */
  get remote(): boolean {
    return this.#url !== undefined || this.#git !== undefined;
  }

  get #gitBase(): string {
    return this.#o.env.PLANCTON_CONF_GIT_BASE || DEFAULT_GIT_BASE;
  }

  async load(): Promise<LoadedConfig> {
    const { paths, env, args } = this.#o;
    if (this.#url && this.#git) throw new ConfigError([{ key: 'PLANCTON_CONF_GIT', message: 'set either PLANCTON_CONF_URL or PLANCTON_CONF_GIT, not both' }]);
    if (this.#url) return this.#loadUrl(this.#url);
    if (this.#git) return this.#loadGit(this.#git);
    const fallback = env.PLANCTON_DEFAULT_CONFIG;
    if (!paths.configRequired && fallback && !existsSync(paths.configFile)) {
      return loadConfig({ file: fallback, fileRequired: true, env, args });
    }
    return loadConfig({ file: paths.configFile, fileRequired: paths.configRequired, env, args });
  }

  /** A fetched text becomes the last good one (and is cached) only once it validates. */
  async #loadUrl(url: string): Promise<LoadedConfig> {
    const { env, args } = this.#o;
    const load = (text: string): LoadedConfig => loadConfig({ text, file: safeUrl(url), env, args });
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
   * Clones or updates the repository when due, then loads the checked-out file. An update whose
   * configuration does not validate is not checked out (ConfigError: the caller keeps its last
   * good configuration); one that cannot reach the server keeps the checkout as it is.
   */
  async #loadGit(spec: string): Promise<LoadedConfig> {
    const { paths, env, args } = this.#o;
    const loadFile = (): LoadedConfig => loadConfig({ file: paths.configFile, fileRequired: true, env, args });
    const now = (this.#o.now ?? Date.now)();
    if (this.#cloned && now < this.#nextFetch) return loadFile();
    const every = Number(env.PLANCTON_CONF_UPDATE ?? '');
    this.#nextFetch = now + (Number.isFinite(every) && every > 0 ? every * 1000 : 0);
    try {
      await bootstrap({
        dir: dirname(paths.configFile),
        configName: basename(paths.configFile),
        spec: parseRepoSpec(spec),
        gitBase: this.#gitBase,
        // an update runs inside the control loop: a hung server must not hold it for long
        timeoutMs: this.#cloned ? 30_000 : 120_000,
        validate: (text, origin) => void loadConfig({ text, file: origin, env, args }),
      });
      this.#cloned = true;
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      if (err instanceof BootstrapError && err.refused) throw new ConfigError([{ key: 'PLANCTON_CONF_GIT', message: err.message }], { cause: err });
      if (!existsSync(paths.configFile)) throw err;
      this.#o.onWarning?.(`${(err as Error).message}; keeping the last good configuration`);
    }
    return loadFile();
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
