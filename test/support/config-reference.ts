/** The configuration table of docs/configuration.md, generated from the schema (`node test/support/config-reference.ts`). */
import { describeKey, KEYS } from '../../src/config/schema/keys.ts';

const cell = (v: unknown): string =>
  v === null ? '(none)' : `\`${typeof v === 'string' ? v || '""' : JSON.stringify(v)}\``;

export function configReference(): string {
  const rows = KEYS.map((k) => {
    const d = describeKey(k);
    return `| \`${k}\` | \`${d.env}\` | ${cell(d.default)} | ${d.v06 ? 'yes' : 'new'} | ${d.doc.replaceAll('|', '\\|')} |`;
  });
  return ['| key | environment | default | in 0.6 | meaning |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(configReference());
