import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { hostname as osHostname } from 'node:os';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
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

/** Loads the configuration the way every command does: file (or none), environment, `--<key>` overrides. */
export function loadFor(cli: Cli, paths: Paths, file = paths.configFile, required = paths.configRequired): LoadedConfig {
  return loadConfig({ file, fileRequired: required, env: process.env, args: cli.configArgs });
}

export function engineFor(config: LoadedConfig): DockerEngine {
  const socket = config.settings.docker_socket;
  return new DockerEngine(socket ? { socketPath: socket } : {});
}

/** The host name for pilot names (configured, else the machine's) and the instance id (configured, else the host name). */
export function identityOf(config: LoadedConfig): Identity {
  const hostname = config.settings.hostname || osHostname();
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
