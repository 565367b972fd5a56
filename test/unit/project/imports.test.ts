import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import * as prettier from 'prettier';
import { folders, importCycles, importsOf, tsFiles } from '../../support/imports.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
/** The folders of TypeScript, every file of which Prettier formats. */
const FORMATTED = ['src', 'test', 'bench'];
/** What `prettier --check .` leaves out: it reads .gitignore and .prettierignore. */
const IGNORE_FILES = ['.gitignore', '.prettierignore'].map((f) => join(ROOT, f));

/** The paths among `paths` that Prettier, reading `ignorePath`, leaves out; a folder stands for a .ts file in it. */
async function ignored(paths: string[], ignorePath: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const path of paths) {
    const probe = path.endsWith('.ts') ? path : join(path, 'probe.ts');
    if ((await prettier.getFileInfo(probe, { ignorePath })).ignored) out.push(path);
  }
  return out;
}

/** The files among `files` that Prettier, with the configuration it finds for each, would write otherwise. */
async function unformatted(files: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const file of files) {
    const options = await prettier.resolveConfig(file, { editorconfig: true });
    if (!(await prettier.check(readFileSync(file, 'utf8'), { ...options, filepath: file }))) out.push(file);
  }
  return out;
}

/** A scratch folder holding `files` (path: text); removed after `body`. */
async function inScratch(files: Record<string, string>, body: (root: string) => Promise<void> | void): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'plancton-imports-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    await body(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe('imports of src/: no cycle', () => {
  it('no file of src/ reaches itself through its imports, type-only ones and re-exports included', () => {
    assert.deepEqual(importCycles(join(ROOT, 'src')), []);
  });

  it('the check finds cycles through type-only imports, re-exports, dynamic imports and import types', async () => {
    await inScratch(
      {
        'a.ts': "import type { B } from './b.ts';\nexport type A = B;\n",
        'b.ts': "export type { A as B } from './a.ts';\n",
        'c.ts':
          "// import { d } from './d.ts';\nconst s = \"import { d } from './d.ts'\";\nexport const c = () => import('./d');\n",
        'd.ts': "export type D = import('./e.js').E;\n",
        'e.ts': "import {\n  type C,\n} from './c.ts';\nexport * from './f.ts';\n",
        'f.ts': "import './f.ts';\n",
        'g.ts': "import { a } from './a.ts';\nimport { readFileSync } from 'node:fs';\nimport { x } from '../x.ts';\n",
      },
      (root) => {
        assert.deepEqual(importCycles(root).sort(), ['a.ts > b.ts > a.ts', 'c.ts > d.ts > e.ts > c.ts', 'f.ts > f.ts']);
        assert.deepEqual(importsOf(join(root, 'c.ts')), [join(root, 'd.ts')]);
        assert.deepEqual(importsOf(join(root, 'g.ts')), [join(root, 'a.ts'), resolve(root, '../x.ts')]);
      },
    );
  });
});

describe('formatting of src/, test/ and bench/: as Prettier writes it', () => {
  it('Prettier ignores none of their folders and files (.gitignore and .prettierignore, as prettier --check . reads them)', async () => {
    const paths = FORMATTED.flatMap((dir) => [...folders(join(ROOT, dir)), ...tsFiles(join(ROOT, dir))]);
    assert.ok(paths.includes(join(ROOT, 'src/config')) && paths.includes(join(ROOT, 'test/fixtures')));
    const left = await ignored(paths, IGNORE_FILES);
    assert.deepEqual(
      left.map((d) => relative(ROOT, d)),
      [],
    );
  });

  it('every .ts file of them is as Prettier writes it (npx prettier --write src test bench)', async () => {
    const files = FORMATTED.flatMap((dir) => tsFiles(join(ROOT, dir)));
    for (const dir of FORMATTED)
      assert.ok(
        files.some((f) => f.startsWith(join(ROOT, dir, '/'))),
        `no .ts in ${dir}/`,
      );
    const bad = await unformatted(files);
    assert.deepEqual(
      bad.map((f) => relative(ROOT, f)),
      [],
    );
  });

  it('the checks find an ignore line that catches a folder of src/, and a file Prettier would change', async () => {
    await inScratch(
      {
        '.prettierignore': 'config/\n',
        'config/a.yaml': 'a: 1\n',
        'src/config/a.ts': 'export const a = 1;\n',
        'src/b.ts': 'export const b = {a:1}\n',
      },
      async (root) => {
        const ignorePath = [join(root, '.prettierignore')];
        assert.deepEqual(await ignored(folders(join(root, 'src')), ignorePath), [join(root, 'src/config')]);
        writeFileSync(join(root, '.prettierignore'), '/config/\n');
        assert.deepEqual(await ignored(folders(join(root, 'src')), ignorePath), []);
        assert.deepEqual(await ignored([join(root, 'config')], ignorePath), [join(root, 'config')]);
        assert.deepEqual(await unformatted(tsFiles(join(root, 'src')).sort()), [join(root, 'src/b.ts')]);
      },
    );
  });
});
