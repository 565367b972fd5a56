import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { createRequire } from 'node:module';
import { loadDockerode } from '../../../src/engine/dockerode-loader.ts';

const require = createRequire(import.meta.url);
const loaded = (pattern: RegExp): string[] => Object.keys(require.cache).filter((k) => pattern.test(k));

describe('loading dockerode without its SSH transport and BuildKit session', () => {
  const Docker = loadDockerode();
  const fromDockerode = createRequire(require.resolve('dockerode'));

  it('gives the real dockerode, without ssh2 or gRPC in memory', () => {
    assert.equal(typeof Docker, 'function');
    assert.equal(typeof new Docker({ socketPath: '/nonexistent.sock' }).listContainers, 'function');
    assert.ok(loaded(/docker-modem/).length > 0, 'docker-modem is loaded');
    assert.deepEqual(loaded(/node_modules\/(ssh2|@grpc|protobufjs)\//), []);
  });

  it('loads the real SSH transport on its first use', () => {
    const ssh = fromDockerode('docker-modem/lib/ssh.js') as (opt: object) => unknown;
    assert.deepEqual(loaded(/node_modules\/ssh2\//), []);
    const agent = ssh({ host: '127.0.0.1', port: 1, username: 'nobody' });
    assert.ok(agent instanceof Agent, 'the transport returns its HTTP agent');
    assert.ok(loaded(/node_modules\/ssh2\//).length > 0, 'ssh2 is loaded now');
    assert.notEqual(
      fromDockerode('docker-modem/lib/ssh.js'),
      ssh,
      'the real module replaced the stand-in in the cache',
    );
  });

  it('the BuildKit session is a stand-in until called', () => {
    assert.equal(typeof fromDockerode('./session.js'), 'function');
    assert.deepEqual(loaded(/node_modules\/@grpc\//), []);
  });
});
