import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ConfigProblem } from '../core/errors.ts';
import type { PullSource } from '../core/pilot-shape.ts';
import {
  credentialsIn,
  parseDockerConfig,
  registryOf,
  RegistryAuthError,
  serverAddress,
  whoOf,
} from './registry-auth.ts';
import type { Settings } from './schema/keys.ts';

type AuthSettings = Pick<Settings, 'registry_auth_file' | 'registry_username' | 'registry_password'>;

/** A credentials file larger than this is refused: config.json files are a few hundred bytes. */
const MAX_BYTES = 256 * 1024;

/**
 * The registry of `image` and the credentials to pull it with: registry_username and
 * registry_password when set, else the registry's entry in registry_auth_file (read anew, so a
 * rotated Secret applies at the next pull), else none. Rejects with a RegistryAuthError that
 * names the registry and the file.
 */
export async function pullAuthFor(image: string, settings: AuthSettings): Promise<PullSource> {
  const registry = registryOf(image);
  if (settings.registry_username && settings.registry_password) {
    return {
      registry,
      auth: {
        username: settings.registry_username,
        password: settings.registry_password,
        serveraddress: serverAddress(registry),
      },
      from: `user ${settings.registry_username} from registry_username/registry_password`,
    };
  }
  const file = settings.registry_auth_file;
  if (!file) return { registry };
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new RegistryAuthError(
      `credentials for registry ${registry}: cannot read registry_auth_file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (text.length > MAX_BYTES)
    throw new RegistryAuthError(`credentials for registry ${registry}: ${file} is larger than ${MAX_BYTES} bytes`);
  try {
    const creds = credentialsIn(parseDockerConfig(text, file), registry, file);
    return creds ? { registry, auth: creds, from: `${whoOf(creds)} from ${file}` } : { registry };
  } catch (err) {
    throw new RegistryAuthError(`credentials for registry ${registry}: ${(err as Error).message}`);
  }
}

/**
 * Checks the credential keys when the configuration loads, so that `config check` and a reload
 * name a bad file or a half-given pair instead of the next pull failing.
 */
export function checkRegistryAuth(settings: AuthSettings, problems: ConfigProblem[]): void {
  if (Boolean(settings.registry_username) !== Boolean(settings.registry_password)) {
    const missing = settings.registry_username ? 'registry_password' : 'registry_username';
    problems.push({
      key: missing,
      message: `must be set together with ${missing === 'registry_password' ? 'registry_username' : 'registry_password'}`,
    });
  }
  const file = settings.registry_auth_file;
  if (!file) return;
  try {
    const text = readFileSync(file);
    if (text.length > MAX_BYTES) throw new RegistryAuthError(`${file}: larger than ${MAX_BYTES} bytes`);
    parseDockerConfig(text.toString('utf8'), file);
  } catch (err) {
    const message =
      err instanceof RegistryAuthError
        ? err.message
        : `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    problems.push({ key: 'registry_auth_file', message });
  }
}
