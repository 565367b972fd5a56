import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { loadConfig, type LoadedConfig } from '../load.ts';
import { DEFAULT_FETCH_DEADLINE_MS, fetchText, safeUrl } from './fetch-text.ts';
import { readFileNoFollow, writeFileNoFollow } from './safe-file.ts';
import { TIMER_MAX_S } from '../schema/bounds.ts';
import { parseConfigText, readConfigFile } from './config-text.ts';
import { GRANT_PATTERN } from '../schema/formats.ts';
import { ConfigError } from '../../core/errors.ts';
import type { HostFacts } from '../../core/pilot-shape.ts';
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
  /** `config check`: a failed fetch is an error, never hidden behind the last good text. */
  readonly strict?: boolean | undefined;
  /** Reads the host's facts for `max_docks` from `host_proc` (see LoadOptions.hostFacts). */
  readonly hostFacts?: ((procRoot: string) => HostFacts) | undefined;
}

const YES = /^(1|true|yes)$/i;

/** Longest a git command of a repository's update may take (ms): an update runs while the daemon runs. */
const GIT_UPDATE_TIMEOUT_MS = 30_000;

/** `PLANCTON_CONF_UPDATE` / `PLANCTON_CONF_TIMEOUT`: seconds within [min, TIMER_MAX_S], or the default when unset. */
function seconds(env: NodeJS.ProcessEnv, name: string, min: number, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > TIMER_MAX_S)
    throw new ConfigError([
      {
        key: name,
        message: `must be a number of seconds from ${min} to ${TIMER_MAX_S}, not ${JSON.stringify(raw.slice(0, 40))}`,
      },
    ]);
  return v;
}

/** The first line of the cache file: which URL the text came from, so another URL never gets it. */
const cacheHeader = (url: string): string =>
  `# plancton config cache of url-sha256:${createHash('sha256').update(url).digest('hex')}\n`;

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
  /** Why the last fetch failed, while the last good text stands in: a warning of every load until a fetch succeeds. */
  #fetchFailure: string | undefined;
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

  /**
   * How long one load may take in all (ms), for the daemon's reloads: the URL's fetch deadline
   * (`PLANCTON_CONF_TIMEOUT`, which the fetch itself keeps) and a little for the parse; a
   * repository's update, two of its git commands' 30 s; a file, the default.
   */
  get deadlineMs(): number {
    if (this.#url) {
      const fetchMs = DEFAULT_FETCH_DEADLINE_MS;
      try {
        return seconds(this.#o.env, 'PLANCTON_CONF_TIMEOUT', 1, fetchMs / 1000) * 1000 + 5000;
      } catch {
        return fetchMs + 5000; // a bad value fails the load itself, with its key named
      }
    }
    return this.#git ? 2 * GIT_UPDATE_TIMEOUT_MS : DEFAULT_FETCH_DEADLINE_MS;
  }

  get #gitBase(): string {
    return this.#o.env.PLANCTON_CONF_GIT_BASE || DEFAULT_GIT_BASE;
  }

  /** @param signal - aborts a fetch in flight (the daemon's stop). */
  async load(signal?: AbortSignal): Promise<LoadedConfig> {
    const { paths, env, args } = this.#o;
    if (this.#url && this.#git)
      throw new ConfigError([
        { key: 'PLANCTON_CONF_GIT', message: 'set either PLANCTON_CONF_URL or PLANCTON_CONF_GIT, not both' },
      ]);
    if (this.#url) return this.#loadUrl(this.#url, signal);
    if (this.#git) return this.#loadGit(this.#git, signal);
    const fallback = env.PLANCTON_DEFAULT_CONFIG;
    if (!paths.configRequired && fallback && !existsSync(paths.configFile)) {
      return loadConfig({ file: fallback, fileRequired: true, env, args, hostFacts: this.#o.hostFacts });
    }
    return loadConfig({
      file: paths.configFile,
      fileRequired: paths.configRequired,
      env,
      args,
      hostFacts: this.#o.hostFacts,
    });
  }

  /** A fetched text becomes the last good one (and is cached) only once it validates. */
  async #loadUrl(url: string, signal?: AbortSignal): Promise<LoadedConfig> {
    const { env, args } = this.#o;
    const every = seconds(env, 'PLANCTON_CONF_UPDATE', 1, 0);
    const deadlineMs = seconds(env, 'PLANCTON_CONF_TIMEOUT', 1, DEFAULT_FETCH_DEADLINE_MS / 1000) * 1000;
    const allowHostPower = this.#localAllowance();
    const load = (text: string): LoadedConfig =>
      this.#withFetchFailure(
        loadConfig({ text, file: safeUrl(url), env, args, hostFacts: this.#o.hostFacts, remote: true, allowHostPower }),
      );
    const now = (this.#o.now ?? Date.now)();
    if (this.#text !== undefined && now < this.#nextFetch) return load(this.#text);
    this.#nextFetch = now + every * 1000;
    let fetched: string;
    try {
      fetched = await fetchText(url, {
        insecureTls: YES.test(env.PLANCTON_CONF_NOSSLVERIFY ?? ''),
        allowHttp: YES.test(env.PLANCTON_CONF_ALLOW_HTTP ?? ''),
        deadlineMs,
        signal,
      });
    } catch (err) {
      // a stop that gave the fetch up wants no configuration, and no warning about it
      if (this.#o.strict || signal?.aborted) throw err;
      this.#text ??= await this.#cached(url);
      if (this.#text === undefined) throw err;
      this.#fetchFailure = `${(err as Error).message}; keeping the last good configuration`;
      this.#o.onWarning?.(this.#fetchFailure);
      return load(this.#text);
    }
    this.#fetchFailure = undefined;
    const config = load(fetched); // throws ConfigError: the caller keeps its last good configuration
    if (fetched !== this.#text) {
      this.#text = fetched;
      if (this.#o.cacheFile) await this.#cache(url, fetched);
    }
    return config;
  }

  /**
   * Clones or updates the repository when due, then loads the checked-out file. An update whose
   * configuration does not validate is not checked out (ConfigError: the caller keeps its last
   * good configuration); one that cannot reach the server keeps the checkout as it is.
   */
  async #loadGit(spec: string, signal?: AbortSignal): Promise<LoadedConfig> {
    const { paths, env, args } = this.#o;
    // the checkout is the repository's text, not the local administrator's: like a URL's, it may not
    // give pilots power over the host unless the command line allows it
    const loadFile = (): LoadedConfig =>
      this.#withFetchFailure(
        loadConfig({
          file: paths.configFile,
          fileRequired: true,
          env,
          args,
          hostFacts: this.#o.hostFacts,
          remote: true,
        }),
      );
    const now = (this.#o.now ?? Date.now)();
    if (this.#cloned && now < this.#nextFetch) return loadFile();
    this.#nextFetch = now + seconds(env, 'PLANCTON_CONF_UPDATE', 1, 0) * 1000;
    try {
      await bootstrap({
        dir: dirname(paths.configFile),
        configName: basename(paths.configFile),
        spec: parseRepoSpec(spec),
        gitBase: this.#gitBase,
        // an update runs beside the control loop: a hung server must still not hold the reloads for long
        timeoutMs: this.#cloned ? GIT_UPDATE_TIMEOUT_MS : 120_000,
        signal,
        validate: (text, origin) =>
          void loadConfig({ text, file: origin, env, args, hostFacts: this.#o.hostFacts, remote: true }),
      });
      this.#cloned = true;
      this.#fetchFailure = undefined;
    } catch (err) {
      if (err instanceof ConfigError || signal?.aborted) throw err;
      if (err instanceof BootstrapError && err.refused)
        throw new ConfigError([{ key: 'PLANCTON_CONF_GIT', message: err.message }], { cause: err });
      if (!existsSync(paths.configFile)) throw err;
      this.#fetchFailure = `${(err as Error).message}; keeping the last good configuration`;
      this.#o.onWarning?.(this.#fetchFailure);
    }
    return loadFile();
  }

  /** `config` with the last fetch's failure among its warnings, while the last good text stands in. */
  #withFetchFailure(config: LoadedConfig): LoadedConfig {
    return this.#fetchFailure === undefined
      ? config
      : { ...config, warnings: [...config.warnings, this.#fetchFailure] };
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
      throw new ConfigError([
        {
          key: 'allow_host_power',
          message: `in ${file}: must be a list of entries such as docker_privileged or capabilities:SYS_ADMIN`,
        },
      ]);
    }
    return list as string[];
  }

  async #cache(url: string, text: string): Promise<void> {
    const file = this.#o.cacheFile ?? '';
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFileNoFollow(dirname(file), basename(file), cacheHeader(url) + text);
  }

  /** The cached text, only if it was fetched from this very URL. */
  async #cached(url: string): Promise<string | undefined> {
    if (!this.#o.cacheFile) return undefined;
    const text = await readFileNoFollow(this.#o.cacheFile).catch(() => undefined);
    const header = cacheHeader(url);
    return text?.startsWith(header) ? text.slice(header.length) : undefined;
  }
}
