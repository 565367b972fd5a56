import { createRequire, Module } from 'node:module';
import type Dockerode from 'dockerode';

/**
 * Loads dockerode without the two parts a daemon on the engine's socket never uses, which
 * dockerode loads eagerly: docker-modem's SSH transport (`ssh2` and its crypto, about 17 MiB)
 * and dockerode's BuildKit session (`@grpc/grpc-js` and `protobufjs`, about 13 MiB). Each of
 * those modules exports one function; a stand-in put in the require cache before dockerode is
 * loaded (Node documents that entries may be added there) loads the real module on its first
 * call, so `ssh://` hosts and BuildKit sessions still work, paying the memory only when used.
 * When a module is not where this dockerode version keeps it, it is simply loaded as usual.
 */
export function loadDockerode(): typeof Dockerode {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('dockerode');
  const fromDockerode = createRequire(entry);
  for (const request of ['docker-modem/lib/ssh.js', './session.js']) {
    let file: string;
    try {
      file = fromDockerode.resolve(request);
    } catch {
      continue;
    }
    if (!require.cache[file]) require.cache[file] = deferred(file, require);
  }
  return require(entry) as typeof Dockerode;
}

/** A loaded module whose export is a function that loads `file` on its first call and calls it. */
function deferred(file: string, require: NodeJS.Require): NodeJS.Module {
  let real: ((...args: unknown[]) => unknown) | undefined;
  const load = (): ((...args: unknown[]) => unknown) => {
    delete require.cache[file];
    const loaded: unknown = require(file);
    if (typeof loaded !== 'function') throw new TypeError(`${file} does not export a function`);
    real = loaded as (...args: unknown[]) => unknown;
    return real;
  };
  const stand = new Module(file);
  stand.filename = file;
  stand.loaded = true;
  stand.exports = function (this: unknown, ...args: unknown[]): unknown {
    return (real ?? load()).apply(this, args);
  };
  return stand;
}
