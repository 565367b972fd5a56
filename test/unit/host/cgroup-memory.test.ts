import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerMemoryPaths, readContainerMemoryBytes } from '../../../src/host/cgroup-memory.ts';

const id = 'a'.repeat(64);

describe('per-container memory from cgroups', () => {
  it('looks in the v1 cgroupfs place under the cgroup parent first, then systemd and v2 places', () => {
    const paths = containerMemoryPaths('/sys/fs/cgroup/', id, '/plancton');
    assert.equal(paths[0], `/sys/fs/cgroup/memory/plancton/${id}/memory.usage_in_bytes`);
    assert.ok(paths.includes(`/sys/fs/cgroup/system.slice/docker-${id}.scope/memory.current`));
    assert.ok(paths.includes(`/sys/fs/cgroup/plancton/${id}/memory.current`));
    assert.throws(() => containerMemoryPaths('/x', 'abc123'), RangeError);
  });
  it('reads v1 usage_in_bytes and v2 memory.current; undefined when absent or not a number', async () => {
    const root = mkdtempSync(join(tmpdir(), 'plancton-memcg-'));
    mkdirSync(join(root, 'memory', 'docker', id), { recursive: true });
    writeFileSync(join(root, 'memory', 'docker', id, 'memory.usage_in_bytes'), '1048576\n');
    assert.equal(await readContainerMemoryBytes(root, id), 1048576);
    const v2 = mkdtempSync(join(tmpdir(), 'plancton-memcg2-'));
    mkdirSync(join(v2, 'plancton', id), { recursive: true });
    writeFileSync(join(v2, 'plancton', id, 'memory.current'), '2097152\n');
    assert.equal(await readContainerMemoryBytes(v2, id, '/plancton'), 2097152);
    assert.equal(await readContainerMemoryBytes(v2, 'b'.repeat(64), '/plancton'), undefined);
    writeFileSync(join(v2, 'plancton', id, 'memory.current'), 'max\n');
    assert.equal(await readContainerMemoryBytes(v2, id, '/plancton'), undefined);
  });
});
