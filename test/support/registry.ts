/**
 * A private image registry on loopback for tests: Debian's docker-registry (distribution 2.8,
 * installed by .ci/setup/registry-setup.sh) with htpasswd auth, its own storage, on a free
 * port of 127.0.0.1 (which Docker treats as an insecure registry allowed over plain HTTP).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { docker, waitFor } from './docker.ts';

/** Whether the registry and htpasswd are installed; the reason when not. */
export async function registryMissing(): Promise<string | undefined> {
  for (const cmd of ['docker-registry', 'htpasswd']) {
    const r = await execa('sh', ['-c', `command -v ${cmd}`], { reject: false });
    if (r.failed) return `${cmd} is not installed (run .ci/setup/registry-setup.sh)`;
  }
  return undefined;
}

/** A port nothing listens on at the moment it is asked. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export class TestRegistry {
  readonly dir = mkdtempSync(join(tmpdir(), 'plancton-registry-'));
  /** `127.0.0.1:PORT`, as image names and `auths` keys spell it. */
  host = '';
  #proc: ResultPromise | undefined;
  #log = '';

  /** Starts the registry with one user; resolves once it answers (401 on /v2/, as auth demands). */
  async start(user: string, password: string): Promise<this> {
    await execa('htpasswd', ['-Bbc', join(this.dir, 'htpasswd'), user, password]);
    mkdirSync(join(this.dir, 'data'));
    for (let attempt = 0; ; attempt++) {
      this.host = `127.0.0.1:${await freePort()}`;
      writeFileSync(
        join(this.dir, 'config.yml'),
        [
          'version: 0.1',
          'log:',
          '  level: warn',
          'storage:',
          '  filesystem:',
          `    rootdirectory: ${join(this.dir, 'data')}`,
          'http:',
          `  addr: ${this.host}`,
          'auth:',
          '  htpasswd:',
          '    realm: plancton-test',
          `    path: ${join(this.dir, 'htpasswd')}`,
          '',
        ].join('\n'),
      );
      this.#log = '';
      const proc = execa('docker-registry', ['serve', join(this.dir, 'config.yml')], { reject: false, all: true });
      proc.all?.on('data', (c: Buffer) => void (this.#log += c.toString()));
      let exited = false;
      void proc.finally(() => void (exited = true));
      this.#proc = proc;
      try {
        await waitFor(
          `registry on ${this.host}`,
          async () => {
            if (exited) throw new Error(`docker-registry exited: ${this.#log}`);
            const res = await fetch(`http://${this.host}/v2/`).catch(() => undefined);
            return res?.status === 401 ? true : undefined;
          },
          30_000,
          200,
        );
        return this;
      } catch (err) {
        proc.kill('SIGKILL');
        await proc;
        // another process took the port between the probe and the registry's bind: try another
        if (attempt >= 3) throw err;
      }
    }
  }

  /** Tags a local image as `host/name` and pushes it with the docker CLI, logged in through a private DOCKER_CONFIG. */
  async push(local: string, name: string, user: string, password: string): Promise<string> {
    const image = `${this.host}/${name}`;
    const env = { DOCKER_CONFIG: join(this.dir, 'docker-cli') };
    await execa('docker', ['login', this.host, '-u', user, '--password-stdin'], { input: password, env });
    await docker(['tag', local, image]);
    await execa('docker', ['push', image], { env, timeout: 120_000 });
    // only the tag goes: the pull under test must fetch it from the registry
    await docker(['rmi', image]);
    return image;
  }

  async stop(): Promise<void> {
    this.#proc?.kill('SIGTERM');
    await this.#proc;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
