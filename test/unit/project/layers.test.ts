import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importsOf, tsFiles } from '../../support/imports.ts';

/**
 * The layers of src/, lowest first: a file may import its own directory and lower layers only.
 * core (the pure decision and the values it reads) and common (helpers that wait or retry, on an
 * injected clock) are the floor and do not import each other; host, engine and config share a
 * level and do not import one another; report sits under daemon
 * (reporters read what the daemon hands them), and cli is the top.
 */
const LEVEL: Readonly<Record<string, number>> = {
  core: 0,
  common: 0,
  host: 1,
  engine: 1,
  config: 1,
  report: 2,
  daemon: 3,
  cli: 4,
};

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

/** `from -> to` for every import under `root` into a higher layer or a sibling of the same level; unknown layers too. */
function violations(root: string): string[] {
  const layerOf = (file: string): string => relative(root, file).split('/')[0] ?? '';
  const bad: string[] = [];
  for (const file of tsFiles(root)) {
    const from = layerOf(file);
    if (LEVEL[from] === undefined) bad.push(`${relative(root, file)}: unknown layer`);
    for (const target of importsOf(file)) {
      const to = layerOf(target);
      if (to !== from && (LEVEL[to] ?? Infinity) >= (LEVEL[from] ?? -1))
        bad.push(`${relative(root, file)} -> ${relative(root, target)}`);
    }
  }
  return bad;
}

describe('layers of src/ (core/common <- host/engine/config <- report <- daemon <- cli)', () => {
  it('no file imports a higher layer or a sibling of its level', () => {
    assert.deepEqual(violations(SRC), []);
  });

  it('the check finds upward, sibling and dynamic imports', () => {
    const root = mkdtempSync(join(tmpdir(), 'plancton-layers-'));
    try {
      const put = (path: string, text: string): void => {
        mkdirSync(dirname(join(root, path)), { recursive: true });
        writeFileSync(join(root, path), text);
      };
      put('core/a.ts', "import type { X } from '../daemon/d.ts';\nimport { y } from './b.ts';\n");
      put('engine/e.ts', "export type { P } from '../config/c.ts';\nimport { z } from '../core/a.ts';\n");
      put('report/r.ts', "const m = await import('../daemon/d.ts');\n");
      put('daemon/d.ts', "import { r } from '../report/r.ts';\n");
      assert.deepEqual(violations(root).sort(), [
        'core/a.ts -> daemon/d.ts',
        'engine/e.ts -> config/c.ts',
        'report/r.ts -> daemon/d.ts',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
