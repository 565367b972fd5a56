/**
 * The README and docs/: the generated configuration reference matches the schema, the README
 * stays a newcomer's page that keeps the blocks the end-to-end tests run verbatim, and every
 * relative link of the project's Markdown points to a file (and heading) that exists.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { configReference } from '../../support/config-reference.ts';
import { readmeBlock } from '../../support/htcondor.ts';
import { quickStart, readmeCommands } from '../../support/image.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
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

it("the README is a newcomer's page of at most 250 lines; the manual is in docs/", () => {
  const lines = readme.split('\n').length - (readme.endsWith('\n') ? 1 : 0);
  assert.ok(lines <= 250, `README.md has ${lines} lines`);
});

it('the README keeps the blocks the end-to-end tests run verbatim', () => {
  // quick-start, image-config, image-bootstrap, helm-daemonset (the image), compose, htcondor-demo
  const { build, run } = quickStart();
  assert.match(build, /^docker build /);
  assert.match(run, /^docker run /);
  assert.ok(readmeCommands('compose-up').commands.some((c) => /docker compose up -d/.test(c)));
  const demo = readmeBlock('htcondor-demo');
  assert.ok(demo.length >= 3 && demo.every((l) => l.startsWith('docker compose ')), JSON.stringify(demo));
});

/** The project's own Markdown: README.md, docs/, and the READMEs of its parts. */
function markdownFiles(): string[] {
  const files = ['README.md'];
  const walk = (dir: string): void => {
    for (const name of readdirSync(resolve(ROOT, dir))) {
      const path = `${dir}/${name}`;
      if (statSync(resolve(ROOT, path)).isDirectory()) walk(path);
      else if (name.endsWith('.md')) files.push(path);
    }
  };
  for (const dir of ['docs', 'bench', 'compose', 'helm', 'pilots']) walk(dir);
  return files;
}

/** The Markdown outside fenced code blocks (where `# comment` is no heading and `[a](b)` no link). */
const prose = (text: string): string => text.replace(/^(```|~~~)[\s\S]*?^\1/gm, '');

/** GitHub's anchors of a Markdown file's headings: lower case, punctuation and backticks dropped, spaces as dashes. */
function anchors(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of prose(text).matchAll(/^#{1,6} +(.+?) *$/gm))
    out.add(
      (m[1] ?? '')
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replaceAll(' ', '-'),
    );
  return out;
}

it('every relative link of README.md, docs/ and the READMEs points to a file, and to a heading that exists', () => {
  const broken: string[] = [];
  let count = 0;
  for (const file of markdownFiles()) {
    const text = readFileSync(resolve(ROOT, file), 'utf8');
    for (const m of prose(text).matchAll(/\]\(([^)\s]+)(?: +"[^"]*")?\)/g)) {
      const link = m[1] ?? '';
      if (/^[a-z][a-z+.-]*:/i.test(link)) continue; // https:, mailto:
      count++;
      const [path = '', anchor] = link.split('#');
      const target = path ? resolve(ROOT, dirname(file), decodeURIComponent(path)) : resolve(ROOT, file);
      if (!target.startsWith(`${ROOT}/`) || !existsSync(target)) {
        broken.push(`${file}: ${link} (no ${relative(ROOT, target)})`);
        continue;
      }
      if (anchor !== undefined && target.endsWith('.md') && !anchors(readFileSync(target, 'utf8')).has(anchor))
        broken.push(`${file}: ${link} (no heading #${anchor} in ${relative(ROOT, target)})`);
    }
  }
  assert.ok(count > 30, `found ${count} relative links`);
  assert.deepEqual(broken, []);
});
