/** stop_command is normalised once, at load, like docker_cmd: the policy and the vacate sequence take the list as it is. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../../src/config/load.ts';
import { resolvePolicy } from '../../../src/config/policy.ts';
import type { HostSample } from '../../../src/core/decision.ts';

const load = (text: string, env: NodeJS.ProcessEnv = {}) => loadConfig({ text, file: 'inline', env, args: [] });
const host: HostSample = {
  at: 0,
  ncpus: 2,
  memory: { totalBytes: 8e9, availableBytes: 8e9, swapTotalBytes: 0, swapFreeBytes: 0 },
};

describe('config: stop_command normalised at load', () => {
  const table: Array<[text: string, expected: string[]]> = [
    ['', []],
    ['stop_command: ""', []],
    ['stop_command: "   "', []],
    ['stop_command: "  condor_off  -peaceful "', ['condor_off', '-peaceful']],
    ['stop_command: ["sh", "-c", "kill -TERM 1"]', ['sh', '-c', 'kill -TERM 1']],
    ['stop_command: []', []],
  ];
  for (const [text, expected] of table) {
    it(`${text || '(unset)'} -> ${JSON.stringify(expected)}`, () => {
      const config = load(text);
      assert.deepEqual(config.pools[0]?.stopCommand, expected);
      assert.deepEqual(
        resolvePolicy(config, host).policy.pools[0]?.stopCommand,
        expected,
        'the policy takes it as loaded',
      );
    });
  }
  it('from the environment, a string or a JSON list', () => {
    assert.deepEqual(load('', { PLANCTON_STOP_COMMAND: 'a b' }).pools[0]?.stopCommand, ['a', 'b']);
    assert.deepEqual(load('', { PLANCTON_STOP_COMMAND: '["a b", "c"]' }).pools[0]?.stopCommand, ['a b', 'c']);
  });
});
