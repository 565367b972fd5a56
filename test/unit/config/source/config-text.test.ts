import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../../src/core/errors.ts';
import { MAX_CONFIG_NODES, parseConfigText, readConfigFile } from '../../../../src/config/source/config-text.ts';

const dir = mkdtempSync(join(tmpdir(), 'plancton-text-'));

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems.map((p) => `${p.key}: ${p.message}`).join('\n');
  }
  assert.fail('accepted');
}

describe('only regular files are read, bounded', () => {
  it('/dev/zero is refused as a device, without reading it', () => {
    assert.match(
      refusal(() => readConfigFile('/dev/zero')),
      /^\/dev\/zero: is not a regular file \(a character device\)/,
    );
  });
  it('a FIFO with no writer is refused, not waited on', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    assert.match(
      refusal(() => readConfigFile(fifo)),
      /is not a regular file \(a FIFO\)/,
    );
  });
  it('a directory, a missing file, a file over 1 MiB', () => {
    assert.match(
      refusal(() => readConfigFile(dir)),
      /a directory/,
    );
    assert.match(
      refusal(() => readConfigFile(join(dir, 'none.yaml'))),
      /cannot read: ENOENT/,
    );
    const big = join(dir, 'big.yaml');
    writeFileSync(big, `# ${'x'.repeat(1024 * 1024)}\n`);
    assert.match(
      refusal(() => readConfigFile(big)),
      /larger than 1048576 bytes/,
    );
  });
  it('a symlink to a regular file is read (Kubernetes mounts ConfigMaps through symlinks)', () => {
    writeFileSync(join(dir, 'real.yaml'), 'main_sleep: 5\n');
    symlinkSync(join(dir, 'real.yaml'), join(dir, 'link.yaml'));
    assert.equal(readConfigFile(join(dir, 'link.yaml')), 'main_sleep: 5\n');
  });
});

describe('parsing is linear, with a cap on entries', () => {
  it('a duplicate key is refused, also when YAML would see two types (1 and "1")', () => {
    assert.match(
      refusal(() => parseConfigText('a: 1\nb: 2\na: 3\n', 'f')),
      /^f: duplicate key a/,
    );
    assert.match(
      refusal(() => parseConfigText('1: a\n"1": b\n', 'f')),
      /duplicate key 1/,
    );
    assert.match(
      refusal(() => parseConfigText('binds: [{x: 1, x: 2}]\n', 'f')),
      /duplicate key x/,
    );
  });
  it('the same key in different mappings is fine', () => {
    assert.deepEqual(parseConfigText('devices: [{PathOnHost: /a}, {PathOnHost: /b}]\n', 'f'), {
      devices: [{ PathOnHost: '/a' }, { PathOnHost: '/b' }],
    });
  });
  it(`more than ${MAX_CONFIG_NODES} entries are refused (150,000 keys in 1 MB)`, () => {
    let text = '';
    for (let i = 0; i < 150_000; i++) text += `k${i.toString(36)}:\n`;
    assert.ok(text.length <= 1024 * 1024);
    assert.match(
      refusal(() => parseConfigText(text, 'f')),
      /more than 20000 entries/,
    );
  });
  it('a key that is a mapping or a list is refused', () => {
    assert.match(
      refusal(() => parseConfigText('? [a, b]\n: 1\n', 'f')),
      /a key must be a plain value/,
    );
  });
  it('deep nesting, alias bombs and garbage are refused as YAML errors, not crashes', () => {
    for (const text of [
      '['.repeat(100_000),
      '{'.repeat(50_000),
      'a: &a [x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
      '\u0000\u0001\u0002',
      ': : :',
      'a: !!binary ***',
    ]) {
      refusal(() => parseConfigText(text, 'f'));
    }
  });
});
