/**
 * Registry credentials for pulling the pilot image: which registry an image comes from, and
 * Docker's config.json format (`auths`), parsed without I/O. Error messages name the registry
 * and the file, never a secret: not even JSON.parse's own message, which quotes the text.
 */

import type { RegistryCredentials } from '../core/pilot-shape.ts';

/** Docker Hub, under the name Docker resolves unqualified images to. */
export const DOCKER_HUB = 'docker.io';
/** The server address Docker's own clients send for Docker Hub. */
const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';
const HUB_ALIASES: ReadonlySet<string> = new Set([
  DOCKER_HUB,
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);

/** The registry of an image reference, as Docker decides it: a first component with a dot, a colon or `localhost`, else Docker Hub. */
export function registryOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return DOCKER_HUB;
  const first = image.slice(0, slash);
  if (!first.includes('.') && !first.includes(':') && first !== 'localhost') return DOCKER_HUB;
  return normalizeRegistry(first);
}

/** An `auths` key as the registry it stands for: no scheme, no path, Docker Hub's aliases as `docker.io`. */
export function normalizeRegistry(key: string): string {
  const host = key
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  return HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

/** The address Docker's clients send as `serveraddress` for a registry. */
export function serverAddress(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_SERVER : registry;
}

/** One parsed credentials file: entries by registry, and the credential helpers it names (which Plancton cannot run). */
export interface DockerConfig {
  readonly auths: ReadonlyMap<string, RegistryCredentials>;
  readonly helpers: ReadonlyMap<string, string>;
  readonly credsStore?: string | undefined;
}

/** A problem in a credentials file; its message names the file and the registry, never a secret. */
export class RegistryAuthError extends Error {
  override readonly name = 'RegistryAuthError';
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Parses a Docker config.json text; `origin` (the file) names it in errors. */
export function parseDockerConfig(text: string, origin: string): DockerConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    // JSON.parse quotes the text around the fault, which may be a password: say where, not what
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new RegistryAuthError(
      `${origin}: not valid JSON${at === undefined ? '' : ` (at ${lineColumn(text, Number(at))})`}`,
    );
  }
  if (!isMap(doc))
    throw new RegistryAuthError(`${origin}: must be a JSON object with "auths", as Docker's config.json`);
  const auths = new Map<string, RegistryCredentials>();
  const rawAuths = doc.auths ?? {};
  if (!isMap(rawAuths)) throw new RegistryAuthError(`${origin}: "auths" must be an object of registries`);
  for (const [key, entry] of Object.entries(rawAuths)) {
    const registry = normalizeRegistry(key);
    if (!isMap(entry)) throw new RegistryAuthError(`${origin}: auths entry of registry ${registry} must be an object`);
    const creds = entryCredentials(entry, registry, origin);
    if (creds) auths.set(registry, creds);
  }
  const helpers = new Map<string, string>();
  if (isMap(doc.credHelpers))
    for (const [k, v] of Object.entries(doc.credHelpers))
      if (typeof v === 'string') helpers.set(normalizeRegistry(k), v);
  return {
    auths,
    helpers,
    credsStore: typeof doc.credsStore === 'string' && doc.credsStore ? doc.credsStore : undefined,
  };
}

/** An entry's credentials: base64 `auth` (`user:password`), else `username`/`password`, else a token; none for an empty entry. */
function entryCredentials(
  entry: Record<string, unknown>,
  registry: string,
  origin: string,
): RegistryCredentials | undefined {
  const str = (k: string): string | undefined =>
    typeof entry[k] === 'string' && entry[k] !== '' ? entry[k] : undefined;
  const serveraddress = serverAddress(registry);
  const auth = str('auth');
  if (auth !== undefined) {
    const decoded = /^[A-Za-z0-9+/=\s_-]+$/.test(auth) ? Buffer.from(auth, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon <= 0)
      throw new RegistryAuthError(`${origin}: "auth" of registry ${registry} is not base64 of user:password`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress };
  }
  const username = str('username');
  const password = str('password');
  if (username !== undefined || password !== undefined) {
    if (username === undefined || password === undefined)
      throw new RegistryAuthError(`${origin}: registry ${registry} needs both "username" and "password"`);
    return { username, password, serveraddress };
  }
  const identitytoken = str('identitytoken');
  const registrytoken = str('registrytoken');
  if (identitytoken !== undefined) return { identitytoken, serveraddress };
  if (registrytoken !== undefined) return { registrytoken, serveraddress };
  return undefined;
}

/** The credentials of `registry` in a parsed file; an error when only a credential helper holds them. */
export function credentialsIn(config: DockerConfig, registry: string, origin: string): RegistryCredentials | undefined {
  const found = config.auths.get(registry);
  if (found) return found;
  const helper = config.helpers.get(registry) ?? config.credsStore;
  if (helper !== undefined) {
    throw new RegistryAuthError(
      `${origin}: the credentials of registry ${registry} are kept by the credential helper "${helper}", which Plancton does not run; write them into "auths" (base64 "auth")`,
    );
  }
  return undefined;
}

/** Who the credentials speak for, for messages. */
export function whoOf(creds: RegistryCredentials): string {
  return creds.username !== undefined ? `user ${creds.username}` : 'a token';
}

function lineColumn(text: string, at: number): string {
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return `line ${line}, column ${at - before.lastIndexOf('\n')}`;
}
