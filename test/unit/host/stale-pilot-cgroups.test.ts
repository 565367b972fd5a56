/**
 * removeStalePilotGroups on v1 and v2 trees of directories: only directories named by a container
 * id, in Plancton's parent, unknown to the engine, and empty are removed.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
    const removed = await removeStalePilotGroups(root, 'plancton', new Set([KNOWN]));
    assert.deepEqual(removed.sort(), [join(root, 'cpu/plancton', GONE), join(root, 'memory/plancton', GONE)].sort());
    for (const left of [`cpu/plancton/${KNOWN}`, `cpu/plancton/${BUSY}`, 'cpu/plancton/not-an-id', `cpu/other/${GONE}`])
      assert.ok(existsSync(join(root, left)), left);
  });

  it('v2: the unified parent only, not a group of that name deeper in the tree', async () => {
    const root = tree('v2', [`plancton/${GONE}`, `system.slice/plancton/${GONE}`], ['cgroup.controllers']);
    assert.deepEqual(await removeStalePilotGroups(root, 'plancton', new Set()), [join(root, 'plancton', GONE)]);
    assert.ok(existsSync(join(root, 'system.slice/plancton', GONE)));
  });

  it('no parent yet: nothing, no error', async () => {
    assert.deepEqual(
      await removeStalePilotGroups(tree('none', ['cpu'], ['cpu/cgroup.procs']), 'plancton', new Set()),
      [],
    );
  });
});
