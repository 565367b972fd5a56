/**
 * The imports of the project's TypeScript, as TypeScript's own parser reads them, for the tests of
 * the layers of src/ (layers.test.ts) and of import cycles (imports.test.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** The .ts files under `dir`, at any depth (node_modules left out). */
export function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : tsFiles(join(dir, e.name));
    return e.name.endsWith('.ts') ? [join(dir, e.name)] : [];
  });
}

/** The folders under `dir`, at any depth, `dir` itself first (node_modules left out). */
export function folders(dir: string): string[] {
  return [
    dir,
    ...readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== 'node_modules')
      .flatMap((e) => folders(join(dir, e.name))),
  ];
}

/**
 * Every relative module that `file` names, resolved to a path: imports (type-only ones too),
 * side-effect imports, `export ... from`, `import x = require()`, dynamic `import()` and
 * `import('...')` types. A comment or a string that looks like an import does not count.
 */
export function importsOf(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const specifiers: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined) {
      if (ts.isStringLiteral(node.moduleSpecifier)) specifiers.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      if (ts.isStringLiteral(node.moduleReference.expression)) specifiers.push(node.moduleReference.expression.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg !== undefined && ts.isStringLiteralLike(arg)) specifiers.push(arg.text);
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal)) specifiers.push(arg.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specifiers.filter((s) => s.startsWith('.')).map((s) => resolveModule(resolve(dirname(file), s)));
}

/** `./x.ts` as written; `./x.js` and `./x` as TypeScript would find them; a missing file as written. */
function resolveModule(path: string): string {
  const candidates = [path, path.replace(/\.js$/, '.ts'), `${path}.ts`, join(path, 'index.ts')];
  return candidates.find((c) => c.endsWith('.ts') && existsSync(c)) ?? path;
}

/**
 * The import cycles among the .ts files under `root`: one per strongly connected component of the
 * import graph (Tarjan), shown as the shortest way from its first file back to itself, paths
 * relative to `root`: `a.ts > b.ts > a.ts`. A file that imports itself is a cycle too.
 */
export function importCycles(root: string): string[] {
  const files = tsFiles(root).sort();
  const edges = new Map(files.map((f) => [f, [...new Set(importsOf(f))].sort()]));
  return components(edges)
    .filter((c) => c.length > 1 || (edges.get(c[0] ?? '') ?? []).includes(c[0] ?? ''))
    .map((c) =>
      shortestCycle(c, edges)
        .map((f) => relative(root, f))
        .join(' > '),
    );
}

/** Tarjan's strongly connected components of the graph `edges` (edges out of it ignored), each sorted. */
function components(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const connect = (v: string): void => {
    const i = index.size;
    index.set(v, i);
    low.set(v, i);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue;
      if (!index.has(w)) connect(w);
      if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? i, low.get(w) ?? i));
    }
    if (low.get(v) !== i) return;
    const component: string[] = [];
    for (let w = stack.pop(); w !== undefined; w = w === v ? undefined : stack.pop()) {
      onStack.delete(w);
      component.push(w);
    }
    out.push(component.sort());
  };
  for (const v of edges.keys()) if (!index.has(v)) connect(v);
  return out;
}

/** The shortest way from the first file of `component` back to itself, through the component. */
function shortestCycle(component: readonly string[], edges: ReadonlyMap<string, readonly string[]>): string[] {
  const start = component[0] ?? '';
  const inside = new Set(component);
  const previous = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length && !previous.has(start); i++) {
    const v = queue[i] ?? '';
    for (const w of edges.get(v) ?? []) {
      if (!inside.has(w) || previous.has(w)) continue;
      previous.set(w, v);
      queue.push(w);
    }
  }
  const path = [start];
  for (let v = previous.get(start); v !== undefined && v !== start; v = previous.get(v)) path.unshift(v);
  return [start, ...path];
}
