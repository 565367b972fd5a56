import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { setTimeout as delay } from 'node:timers/promises';
import { EngineError } from '../core/errors.ts';
import { ENGINE_RETRY_DELAYS_MS } from '../engine/retry.ts';
import type { EnginePort } from '../engine/port.ts';
import { join } from 'node:path';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import { ConfigSource } from '../config/source.ts';
import { resolvePaths, type Paths } from '../config/paths.ts';
import type { Identity } from '../daemon/executor.ts';
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
  return new ConfigSource({ paths, env: process.env, args: cli.configArgs, cacheFile: join(paths.runDir, 'config-url.yaml'), onWarning, strict });
}

/**
 * Loads the configuration once; with `file`, that file alone (as `config check FILE`).
 * @param strict - a config URL that cannot be fetched is an error, not the cached last good text.
 */
export async function loadFor(cli: Cli, paths: Paths, file?: string, strict = false): Promise<LoadedConfig> {
  if (file) return loadConfig({ file, fileRequired: true, env: process.env, args: cli.configArgs });
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
export async function resolveIdentity(config: LoadedConfig, engine: EnginePort, opts: { signal?: AbortSignal; onWait?: (err: unknown) => void; retry?: boolean } = {}): Promise<Identity> {
  let hostname = config.settings.hostname;
  for (let attempt = 0; !hostname; attempt++) {
    try {
      hostname = (await engine.info()).hostName;
    } catch (err) {
      if (!opts.retry || !(err instanceof EngineError) || opts.signal?.aborted) throw err;
      opts.onWait?.(err);
      await delay(ENGINE_RETRY_DELAYS_MS[Math.min(attempt, ENGINE_RETRY_DELAYS_MS.length - 1)] ?? 3000, undefined, { signal: opts.signal });
    }
  }
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
