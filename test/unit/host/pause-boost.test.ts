/** The lift of the idle groups for a pause, on cgroup trees of files (v1 and v2): lifted during the call, idle again after, also when it throws. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { idleGroupsAbove, PauseBoost } from '../../../src/host/pause-boost.ts';
import type { PilotCgroup } from '../../../src/host/pilot-cgroups.ts';

/** A hierarchy root with `/plancton` (the idle parent) and a pilot under it; `v2` names cpu.weight. */
function tree(v2: boolean): { root: string; pilot: PilotCgroup; parent: string; weightFile: string } {
  const root = mkdtempSync(join(tmpdir(), 'pause-boost-'));
  const weightFile = v2 ? 'cpu.weight' : 'cpu.shares';
  const parent = join(root, 'plancton');
  const dir = join(parent, 'abc123');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(parent, 'cpu.idle'), '1\n');
  writeFileSync(join(parent, weightFile), v2 ? '100\n' : '1024\n');
  writeFileSync(join(dir, 'cpu.idle'), '0\n');
  writeFileSync(join(dir, weightFile), v2 ? '100\n' : '1024\n');
  const pilot = {
    paths: new Map(),
    cpuRoot: root,
    cpuDir: dir,
    cpuUsageFile: join(dir, 'cpuacct.usage'),
    memoryFile: undefined,
    ioDir: undefined,
    memoryDir: undefined,
  };
  return { root, pilot, parent, weightFile };
}

const read = (f: string): string => readFileSync(f, 'utf8').trim();

for (const v2 of [false, true]) {
  describe(`pause boost, cgroup ${v2 ? 'v2' : 'v1'}`, () => {
    it('finds the idle group above a pilot, lifts it to the highest weight for the call, and puts it back', async () => {
      const { root, pilot, parent, weightFile } = tree(v2);
      try {
        assert.deepEqual(await idleGroupsAbove(pilot), [parent]);
        const warnings: string[] = [];
        const boost = new PauseBoost(
          () => Promise.resolve(new Map([['abc123', pilot]])),
          (m) => warnings.push(m),
        );
        const seen = await boost.around(['abc123'], () =>
          Promise.resolve([read(join(parent, 'cpu.idle')), read(join(parent, weightFile))]),
        );
        assert.deepEqual(seen.result, ['0', v2 ? '10000' : '262144'], 'lifted during the call');
        assert.deepEqual(seen.groups, [parent]);
        assert.equal(read(join(parent, 'cpu.idle')), '1', 'idle again after');
        assert.equal(read(join(parent, weightFile)), v2 ? '100' : '1024', 'its weight as it was');
        assert.deepEqual(warnings, []);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
    it('puts it back when the pause throws, and lifts nothing for pilots it cannot locate', async () => {
      const { root, pilot, parent } = tree(v2);
      try {
        const boost = new PauseBoost(
          () => Promise.resolve(new Map([['abc123', pilot]])),
          () => undefined,
        );
        await assert.rejects(
          boost.around(['abc123'], () => Promise.reject(new Error('unable to freeze'))),
          /unable to freeze/,
        );
        assert.equal(read(join(parent, 'cpu.idle')), '1');
        const none = new PauseBoost(
          () => Promise.resolve(new Map()),
          () => undefined,
        );
        assert.deepEqual((await none.around(['x'], () => Promise.resolve(1))).groups, []);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  });
}
