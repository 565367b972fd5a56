/**
 * The Helm chart's values: merging a values file over the defaults as Helm does, the documented
 * keys of values.yaml, and the chart README's table of values generated from them
 * (`node test/support/helm-values.ts` prints it, `--write` puts it into helm/plancton/README.md).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

export const CHART_DIR = resolve(import.meta.dirname, '../../helm/plancton');
export const VALUES_FILE = resolve(CHART_DIR, 'values.yaml');
export const README_FILE = resolve(CHART_DIR, 'README.md');

export type Values = Record<string, unknown>;

const isMap = (v: unknown): v is Values => v !== null && typeof v === 'object' && !Array.isArray(v);

export function readYaml(file: string): Values {
  const doc: unknown = parseYaml(readFileSync(file, 'utf8'), { uniqueKeys: true });
  if (doc === null || doc === undefined) return {};
  if (!isMap(doc)) throw new Error(`${file}: the top level must be a mapping`);
  return doc;
}

/**
 * `overrides` merged over `defaults` as Helm coalesces a values file with the chart's values:
 * mappings merge key by key, anything else replaces, and null removes the key.
 */
export function mergeValues(defaults: Values, overrides: Values): Values {
  const out: Values = { ...defaults };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === null) delete out[key];
    else if (isMap(value) && isMap(out[key])) out[key] = mergeValues(out[key], value);
    else out[key] = value;
  }
  return out;
}

/** A key of values.yaml with the comment block directly above it. */
export interface ValueKey {
  readonly path: string;
  readonly line: number;
  /** The comment text, `# -- ` and `# ` stripped; empty when there is none. */
  readonly doc: string;
  /** Whether the comment block starts with `# --`, the marker of a key's description. */
  readonly marked: boolean;
}

const KEY_LINE = /^( *)([A-Za-z_][\w.-]*):(?: |$)/;

/** Every key of a values file, found line by line (values.yaml uses block style only). */
export function valueKeys(text: string): ValueKey[] {
  const lines = text.split('\n');
  const stack: Array<{ indent: number; key: string }> = [];
  const out: ValueKey[] = [];
  lines.forEach((line, i) => {
    const m = KEY_LINE.exec(line);
    if (!m) return;
    const indent = (m[1] ?? '').length;
    while (stack.length && (stack[stack.length - 1]?.indent ?? 0) >= indent) stack.pop();
    stack.push({ indent, key: m[2] ?? '' });
    const comment: string[] = [];
    for (let j = i - 1; j >= 0; j--) {
      const c = /^( *)#(?: (.*))?$/.exec(lines[j] ?? '');
      if (!c || (c[1] ?? '').length !== indent) break;
      comment.unshift(c[2] ?? '');
    }
    const marked = comment[0]?.startsWith('-- ') ?? false;
    out.push({
      path: stack.map((s) => s.key).join('.'),
      line: i + 1,
      doc: comment
        .map((c) => c.replace(/^-- /, ''))
        .join(' ')
        .trim(),
      marked,
    });
  });
  return out;
}

function at(values: Values, path: string): unknown {
  let v: unknown = values;
  for (const k of path.split('.')) v = isMap(v) ? v[k] : undefined;
  return v;
}

/** The Markdown table of values, one row per documented key of values.yaml. */
export function valuesTable(): string {
  const text = readFileSync(VALUES_FILE, 'utf8');
  const values = readYaml(VALUES_FILE);
  const keys = valueKeys(text);
  const rows = keys.map((k) => {
    const v = at(values, k.path);
    const parent = keys.some((c) => c.path.startsWith(`${k.path}.`));
    const shown = parent ? '' : `\`${JSON.stringify(v)}\``;
    return `| \`${k.path}\` | ${shown} | ${k.doc.replaceAll('|', '\\|')} |`;
  });
  return ['| key | default | description |', '| --- | --- | --- |', ...rows].join('\n');
}

export const TABLE_START = '<!-- values-table:start -->';
export const TABLE_END = '<!-- values-table:end -->';

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--write')) {
    const readme = readFileSync(README_FILE, 'utf8');
    const start = readme.indexOf(TABLE_START);
    const end = readme.indexOf(TABLE_END);
    if (start < 0 || end < start) throw new Error(`markers ${TABLE_START} / ${TABLE_END} missing in ${README_FILE}`);
    writeFileSync(
      README_FILE,
      `${readme.slice(0, start + TABLE_START.length)}\n${valuesTable()}\n${readme.slice(end)}`,
    );
  } else {
    console.log(valuesTable());
  }
}
