import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { claimPidFile, parsePidFile, releasePidFile, runningPid, startTimeOf } from '../../../src/daemon/pid-file.ts';
import { RunDir } from '../../../src/daemon/run-dir.ts';

const base = mkdtempSync(join(tmpdir(), 'plancton-pid-'));
const CLAIM = resolve(import.meta.dirname, '../../support/claim-pid.ts');

/** Starts a claimant and resolves with it and its first line. */
function claimant(file: string, runDir: string): Promise<{ child: ChildProcess; line: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLAIM, file, runDir], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) done({ child, line: out.trim() });
    });
    child.on('error', fail);
    child.on('exit', (code) => fail(new Error(`claimant exited ${code} before answering: ${out}`)));
  });
}

/** A pid that belongs to no process now: a child that has exited. */
async function deadPid(): Promise<number> {
  const c = spawn('true');
  await new Promise((r) => c.on('exit', r));
  return c.pid ?? 999_999;
}

describe('the pid file is claimed atomically', () => {
  it('two simultaneous claims: exactly one wins, 30 times (no file, a stale file, a pid reused by another program)', async () => {
    const sleeper = spawn('sleep', ['600']);
    try {
      for (let round = 0; round < 30; round++) {
        const dir = join(base, `race-${round}`);
        mkdirSync(dir, { mode: 0o700 });
        const file = join(dir, 'plancton.pid');
        if (round % 3 === 1) writeFileSync(file, `${await deadPid()}\nplancton 12345\n`);
        if (round % 3 === 2) writeFileSync(file, `${sleeper.pid}\n`); // 0.6's format, a live process that is not Plancton
        const [a, b] = await Promise.all([claimant(file, dir), claimant(file, dir)]);
        const lines = [a.line, b.line].sort();
        assert.equal(lines[1], 'won', `round ${round}: ${lines.join(' / ')}`);
        assert.match(lines[0] ?? '', /^lost: another Plancton is running/, `round ${round}`);
        const winner = a.line === 'won' ? a.child : b.child;
        assert.equal(
          parsePidFile(readFileSync(file, 'utf8'))?.pid,
          winner.pid,
          `round ${round}: the file names the winner`,
        );
        for (const c of [a.child, b.child]) c.stdin?.end();
        await Promise.all(
          [a.child, b.child].map((c) => new Promise((r) => (c.exitCode !== null ? r(0) : c.on('exit', r)))),
        );
      }
    } finally {
      sleeper.kill();
    }
  });

  it('a second claim in the same process is refused by the file, a claim after the holder died succeeds', async () => {
    const dir = join(base, 'same');
    mkdirSync(dir, { mode: 0o700 });
    const file = join(dir, 'plancton.pid');
    await claimPidFile(file, dir);
    assert.equal(await runningPid(file), process.pid);
    assert.match(readFileSync(file, 'utf8'), new RegExp(`^${process.pid}\\nplancton ${startTimeOf(process.pid)}\\n$`));
    await releasePidFile(file);
    assert.equal(await runningPid(file), undefined);
  });
});

describe('the pid is checked to be Plancton before anyone signals it', () => {
  it('a live process that is not Plancton (0.6 format, or a start time that does not match) is no daemon', async () => {
    const sleeper = spawn('sleep', ['600']);
    try {
      const file = join(base, 'other.pid');
      writeFileSync(file, `${sleeper.pid}\n`);
      assert.equal(await runningPid(file), undefined, 'plancton stop must not signal sleep');
      writeFileSync(file, `${sleeper.pid}\nplancton 1\n`);
      assert.equal(await runningPid(file), undefined);
      writeFileSync(file, `${sleeper.pid}\nplancton ${startTimeOf(sleeper.pid ?? 0)}\n`);
      assert.equal(await runningPid(file), sleeper.pid, 'the recorded start time identifies the process');
      writeFileSync(file, `${await deadPid()}\n`);
      assert.equal(await runningPid(file), undefined);
      writeFileSync(file, 'garbage\n');
      assert.equal(await runningPid(file), undefined);
    } finally {
      sleeper.kill();
    }
  });
  it('a pid file that is a symlink is not read', async () => {
    const target = join(base, 'pid-target');
    writeFileSync(target, `${process.pid}\n`);
    symlinkSync(target, join(base, 'link.pid'));
    assert.equal(await runningPid(join(base, 'link.pid')), undefined);
  });
});

describe('an insecure or symlinked run directory is refused, and nothing is written through a symlink', () => {
  it('a symlinked run directory', async () => {
    mkdirSync(join(base, 'real'), { mode: 0o700 });
    symlinkSync(join(base, 'real'), join(base, 'linked'));
    await assert.rejects(new RunDir(join(base, 'linked')).ensure(), /is a symlink: refusing it/);
  });
  it("the pid file's directory may be a symlink this user made in a safe directory (Debian's /var/run -> /run), not one in an open directory", async () => {
    mkdirSync(join(base, 'run-real'), { mode: 0o755 });
    symlinkSync(join(base, 'run-real'), join(base, 'var-run'));
    const file = join(base, 'var-run', 'plancton.pid');
    await claimPidFile(file);
    assert.equal(parsePidFile(readFileSync(join(base, 'run-real', 'plancton.pid'), 'utf8'))?.pid, process.pid);
    await releasePidFile(file);
    const open = join(base, 'open-for-link');
    mkdirSync(open);
    chmodSync(open, 0o777);
    symlinkSync(join(base, 'run-real'), join(open, 'var-run'));
    await assert.rejects(claimPidFile(join(open, 'var-run', 'other.pid')), /is a symlink: refusing it/);
  });
  it('world-writable without sticky, itself or above it; another owner', async () => {
    const open = join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    await assert.rejects(
      new RunDir(join(open, 'run')).ensure(),
      /open is writable by everyone and not sticky \(mode 777\)/,
    );
    const theirsOpen = join(base, 'theirs-open');
    mkdirSync(theirsOpen);
    chmodSync(theirsOpen, 0o777);
    chownSync(theirsOpen, 65534, 65534);
    await assert.rejects(new RunDir(theirsOpen).ensure(), /belongs to uid 65534/);
    // its own run directory, open to others (a Kubernetes emptyDir is 0777): made owner-only rather than refused
    await new RunDir(open).ensure();
    assert.equal(statSync(open).mode & 0o777, 0o700);
    chmodSync(open, 0o777);
    chmodSync(open, 0o1777);
    await new RunDir(join(open, 'run')).ensure();
    const theirs = join(base, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    await assert.rejects(new RunDir(theirs).ensure(), /belongs to uid 65534/);
  });
  it('drain and the status file replace a planted symlink, never write its target', async () => {
    const dir = join(base, 'planted');
    mkdirSync(dir, { mode: 0o700 });
    const victim = join(base, 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(dir, 'drain'));
    symlinkSync(victim, join(dir, 'status.json'));
    const rd = new RunDir(dir);
    assert.equal(await rd.has('drain'), true);
    await rd.set('drain', 'test');
    await rd.writeStatus({ ok: true });
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.deepEqual(await rd.readStatus(), { ok: true });
  });
});
