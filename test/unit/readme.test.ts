import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { configReference } from '../support/config-reference.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');

it('the configuration reference in docs/configuration.md is the one the schema generates', () => {
  const text = readFileSync(resolve(ROOT, 'docs/configuration.md'), 'utf8');
  const m = /<!-- config-reference:start -->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(text);
  assert.ok(m, 'markers missing in docs/configuration.md');
  assert.equal(m[1], configReference(), 'run: node test/support/config-reference.ts, and paste it between the markers');
});

it('the README names the one test command that .ci/run runs', () => {
  const ci = readFileSync(resolve(ROOT, '.ci/run'), 'utf8');
  assert.match(readme, /npm test/);
  assert.match(ci, /^\s*npm test\b/m);
});
