/**
 * Output is never truncated on exit: a command that writes far more than a pipe holds to a reader
 * that is slow to read still delivers every byte, on stdout and on stderr (issue 13: a long
 * `config check` error list on a pipe lost most of its lines to `process.exit()`).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const CLI = resolve(import.meta.dirname, '../../../src/cli/plancton.ts');
const dir = mkdtempSync(join(tmpdir(), 'plancton-exit-'));

/**
 * Runs `plancton args…` with both outputs on pipes that nobody reads for a while: the pipe (64 KiB)
 * and the reader's buffer fill, the rest waits in the writer. Then reads everything to the end.
 */
async function slowReader(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pause();
  child.stderr.pause();
  const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
  // not a timed assertion: the wait only lets the writer run ahead of its reader, as a slow pager does
  await delay(1500);
  const collect = (s: NodeJS.ReadableStream): Promise<string> =>
    new Promise((done) => {
      let text = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => (text += c));
      s.on('end', () => done(text));
      s.resume();
    });
  const [stdout, stderr, code] = await Promise.all([collect(child.stdout), collect(child.stderr), exited]);
  return { code, stdout, stderr };
}

describe('output on exit', () => {
  it('config check with 3,000 bad binds: every error line on stderr (over 200 KB), exit 2', async () => {
    const n = 3000;
    const file = join(dir, 'binds.yaml');
    writeFileSync(
      file,
      `binds:\n${Array.from({ length: n }, (_, i) => `  - "not-a-bind-${i}-${'x'.repeat(40)}"`).join('\n')}\n`,
    );
    const r = await slowReader(['config', 'check', file]);
    assert.ok(r.stderr.length > 200 * 1024, `${r.stderr.length} bytes`);
    assert.equal(r.code, 2, r.stderr.slice(-500));
    const lines = r.stderr.split('\n').filter((l) => /^ {2}binds\[\d+\]: /.test(l));
    assert.equal(lines.length, n);
    assert.match(r.stderr, new RegExp(`binds\\[${n - 1}\\]: "not-a-bind-${n - 1}-x+" is not host:container`));
  });

  it('config check of a valid file: the whole effective configuration on stdout (over 200 KB), exit 0', async () => {
    const n = 8000;
    const file = join(dir, 'cmd.yaml');
    writeFileSync(
      file,
      `docker_cmd:\n${Array.from({ length: n }, (_, i) => `  - arg-${i}-${'y'.repeat(24)}`).join('\n')}\n`,
    );
    const r = await slowReader(['config', 'check', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.length > 200 * 1024, `${r.stdout.length} bytes`);
    assert.match(r.stdout, new RegExp(`- arg-${n - 1}-y{24}\\n`));
    assert.equal(r.stdout.match(/- arg-\d+-y{24}\n/g)?.length, n);
    assert.match(r.stderr, /configuration is valid/);
  });
});
