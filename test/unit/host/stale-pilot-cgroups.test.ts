/**
 * removeStalePilotGroups on v1 and v2 trees of directories: only directories named by a container
 * id, in Plancton's parent, unknown to the engine, and empty are removed.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeStalePilotGroups } from '../../../src/host/stale-pilot-cgroups.ts';

const GONE = 'a'.repeat(64);
const KNOWN = 'b'.repeat(64);
const BUSY = 'c'.repeat(64);
const base = mkdtempSync(join(tmpdir(), 'plancton-stale-'));
after(() => rmSync(base, { recursive: true, force: true }));

/** Directories (and `cgroup.*` files) under a fresh root. */
function tree(name: string, dirs: readonly string[], files: readonly string[]): string {
  const root = join(base, name);
  for (const d of dirs) mkdirSync(join(root, d), { recursive: true });
  for (const f of files) writeFileSync(join(root, f), '');
  return root;
}

describe('removeStalePilotGroups', () => {
  it('v1: in each hierarchy, the empty groups of containers the engine does not know go; known, busy, other names and other parents stay', async () => {
    const root = tree(
      'v1',
      [
        `cpu/plancton/${GONE}`,
        `cpu/plancton/${KNOWN}`,
        `cpu/plancton/${BUSY}/child`,
        'cpu/plancton/not-an-id',
        `cpu/other/${GONE}`,
        `memory/plancton/${GONE}`,
      ],
      ['cpu/cgroup.procs', 'memory/cgroup.procs'],
    );
    const { removed } = await removeStalePilotGroups(root, 'plancton', new Set([KNOWN]));
    assert.deepEqual(removed.sort(), [join(root, 'cpu/plancton', GONE), join(root, 'memory/plancton', GONE)].sort());
    for (const left of [`cpu/plancton/${KNOWN}`, `cpu/plancton/${BUSY}`, 'cpu/plancton/not-an-id', `cpu/other/${GONE}`])
      assert.ok(existsSync(join(root, left)), left);
  });

  it('v2: the unified parent only, not a group of that name deeper in the tree', async () => {
    const root = tree('v2', [`plancton/${GONE}`, `system.slice/plancton/${GONE}`], ['cgroup.controllers']);
    assert.deepEqual((await removeStalePilotGroups(root, 'plancton', new Set())).removed, [
      join(root, 'plancton', GONE),
    ]);
    assert.ok(existsSync(join(root, 'system.slice/plancton', GONE)));
  });

  it('no parent yet: nothing, no error', async () => {
    assert.deepEqual(await removeStalePilotGroups(tree('none', ['cpu'], ['cpu/cgroup.procs']), 'plancton', new Set()), {
      removed: [],
      thawed: [],
    });
  });
});

describe('removeStalePilotGroups: pilots killed while frozen', () => {
  /** A /proc with a status file per pid, SIGKILL pending or not (SigPnd, or the process-wide ShdPnd). */
  function proc(pids: Record<string, 'sigpnd' | 'shdpnd' | 'none'>): string {
    const dir = mkdtempSync(join(base, 'proc-'));
    for (const [pid, k] of Object.entries(pids)) {
      mkdirSync(join(dir, pid));
      const mask = (f: string) => (k === f ? '0000000000000100' : '0000000000004000');
      writeFileSync(
        join(dir, pid, 'status'),
        `Name:\tsh\nState:\tD (disk sleep)\nSigPnd:\t${mask('sigpnd')}\nShdPnd:\t${mask('shdpnd')}\n`,
      );
    }
    return dir;
  }
  const group = (root: string, dir: string, state: [string, string], pids: readonly string[]): string => {
    const g = join(root, dir);
    mkdirSync(g, { recursive: true });
    writeFileSync(join(g, state[0]), `${state[1]}\n`);
    writeFileSync(join(g, 'cgroup.procs'), pids.map((p) => `${p}\n`).join(''));
    return g;
  };
  const read = (g: string, f: string) => readFileSync(join(g, f), 'utf8').trim();

  it('v1: a frozen group of an unknown container whose every process has SIGKILL pending is thawed; one with a process not killed, and a known one, stay frozen', async () => {
    const root = tree('v1-frozen', ['cpu', 'freezer'], ['cpu/cgroup.procs', 'freezer/cgroup.procs']);
    const procRoot = proc({ '11': 'sigpnd', '12': 'shdpnd', '21': 'sigpnd', '22': 'none', '31': 'sigpnd' });
    const killed = group(root, `freezer/plancton/${GONE}`, ['freezer.state', 'FROZEN'], ['11', '12']);
    const alive = group(root, `freezer/plancton/${BUSY}`, ['freezer.state', 'FROZEN'], ['21', '22']);
    const known = group(root, `freezer/plancton/${KNOWN}`, ['freezer.state', 'FROZEN'], ['31']);
    const { thawed } = await removeStalePilotGroups(root, 'plancton', new Set([KNOWN]), procRoot);
    assert.deepEqual(thawed, [killed]);
    assert.equal(read(killed, 'freezer.state'), 'THAWED');
    assert.equal(read(alive, 'freezer.state'), 'FROZEN', 'a process not killed: not ours to thaw');
    assert.equal(read(known, 'freezer.state'), 'FROZEN', "a known container's pause is the engine's");
  });

  it('v2: cgroup.freeze 1 with every process killed is set to 0; an empty or thawed group is left as it is', async () => {
    const root = tree('v2-frozen', ['.'], ['cgroup.controllers']);
    const procRoot = proc({ '41': 'shdpnd' });
    const killed = group(root, `plancton/${GONE}`, ['cgroup.freeze', '1'], ['41']);
    const empty = group(root, `plancton/${BUSY}`, ['cgroup.freeze', '1'], []);
    const { thawed } = await removeStalePilotGroups(root, 'plancton', new Set(), procRoot);
    assert.deepEqual(thawed, [killed]);
    assert.equal(read(killed, 'cgroup.freeze'), '0');
    assert.equal(read(empty, 'cgroup.freeze'), '1');
  });
});
