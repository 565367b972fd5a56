import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { configReference } from '../../support/config-reference.ts';

const readme = readFileSync(resolve(import.meta.dirname, '../../../README.md'), 'utf8');

it('the README configuration reference is the one the schema generates', () => {
  const m = /<!-- config-reference:start -->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(readme);
  assert.ok(m, 'markers missing in README.md');
  assert.equal(m[1], configReference(), 'run: node test/support/config-reference.ts, and paste it between the markers');
});

it('the README names the one test command that .ci/run runs', () => {
  const ci = readFileSync(resolve(import.meta.dirname, '../../../.ci/run'), 'utf8');
  assert.match(readme, /npm test/);
  assert.match(ci, /^\s*npm test\b/m);
});
