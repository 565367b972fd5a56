import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { EngineError } from '../core/errors.ts';
import { RETRY_DELAYS_MS, withRetry } from '../common/retry.ts';
import type { EnginePort } from '../engine/port.ts';
import { join } from 'node:path';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import { readHostFacts } from '../host/host-facts.ts';
import { ConfigSource } from '../config/source/source.ts';
import { resolvePaths, type Paths } from '../config/source/paths.ts';
import type { Identity } from '../core/pilot-shape.ts';
import { DockerEngine } from '../engine/docker-engine.ts';
import type { Cli } from './args.ts';

/** The package version, read from package.json (the same relative path from src/ and dist/). */
export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export function pathsOf(cli: Cli, daemonised = false): Paths {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return resolvePaths({ ...cli.opts, daemonised }, process.env, isRoot);
}

/** Where the configuration comes from for every command: URL or file (or the image default), environment, `--<key>` overrides. */
export function sourceFor(cli: Cli, paths: Paths, onWarning?: (message: string) => void, strict = false): ConfigSource {
  return new ConfigSource({
    paths,
    env: process.env,
    args: cli.configArgs,
    cacheFile: join(paths.runDir, 'config-url.yaml'),
    onWarning,
    strict,
    hostFacts: readHostFacts,
  });
}

/**
 * Loads the configuration once; with `file`, that file alone (as `config check FILE`).
 * @param strict - a config URL that cannot be fetched is an error, not the cached last good text.
 */
export async function loadFor(cli: Cli, paths: Paths, file?: string, strict = false): Promise<LoadedConfig> {
  if (file)
    return loadConfig({ file, fileRequired: true, env: process.env, args: cli.configArgs, hostFacts: readHostFacts });
  return sourceFor(cli, paths, undefined, strict).load();
}

export function engineFor(config: LoadedConfig): DockerEngine {
  const socket = config.settings.docker_socket;
  return new DockerEngine(socket ? { socketPath: socket } : {});
}

/**
 * The host name for pilot names and monitoring (configured, else the engine's host, which is the
 * host's name even when Plancton runs in a container) and the instance id (configured, else the
 * host name). An unreachable engine is waited for, never guessed around: a guessed name would
 * change the instance id, and the pilots of the previous run would not be adopted.
 */
export async function resolveIdentity(
  config: LoadedConfig,
  engine: EnginePort,
  opts: { signal?: AbortSignal; onWait?: (err: unknown) => void; retry?: boolean } = {},
): Promise<Identity> {
  const hostname =
    config.settings.hostname ||
    (await withRetry(async () => (await engine.info()).hostName, {
      delaysMs: RETRY_DELAYS_MS,
      forever: true,
      signal: opts.signal,
      isRetryable: (err) => opts.retry === true && err instanceof EngineError,
      onRetry: (err) => opts.onWait?.(err),
    }));
  return { hostname, instance: config.settings.instance_id || hostname, version: VERSION };
}

/** AppArmor options apply only where the kernel has AppArmor enabled (as 0.6 did). */
export async function apparmorEnabled(): Promise<boolean> {
  try {
    return (await readFile('/sys/module/apparmor/parameters/enabled', 'utf8')).trim().toUpperCase().startsWith('Y');
  } catch {
    return false;
  }
}
