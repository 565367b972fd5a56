/**
 * Runs every test (npm test calls it after lint, type check and build), in lanes:
 *
 *   0. the unit tests, four files at a time (no engine, no shared state), then the few that run a
 *      daemon on the wall clock, one at a time;
 *   1. at the same time: the integration tests one file at a time (they share the host engine
 *      and read the CPU), and `htcondor-pool`, which spends most of its 6-7 minutes waiting on
 *      HTCondor (negotiation cycles, idle timeouts, backoff) and sets its daemons to ignore the
 *      host's load (overload margin 100, no pausing, I/O rule off);
 *   2. then the other end-to-end tests one file at a time, and last the tests that restart the
 *      host engine (`zz-*`), which would cut every other test's containers off.
 *
 * Each lane is Node's test runner with the spec reporter; a lane's lines are prefixed with its
 * name while two run at once. The closing line sums the lanes: `tests: N passed, N failed`.
 * Exits non-zero when any lane failed.
 *
 *   node test/run.ts [--serial]     (--serial: every file one after the other, as before)
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
/** Every `*.test.ts` under test/<dir>, at any depth, sorted. */
const files = (dir: string): string[] =>
  readdirSync(join(ROOT, 'test', dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => `test/${dir}/${f}`);

/** Tests that restart the host engine: alone, at the very end. */
const RESTARTS = /\/zz-[^/]*\.test\.ts$/;
/** Long tests that mostly wait on a workload manager and do not read the host's CPU: beside the integration lane. */
const BESIDE = ['test/e2e/htcondor-pool.test.ts'];

interface Lane {
  readonly name: string;
  readonly files: readonly string[];
  /** Files run at once (default 1). */
  readonly concurrency?: number;
}
interface Result {
  readonly name: string;
  readonly code: number;
  readonly pass: number;
  readonly fail: number;
  readonly seconds: number;
}

function runLane(lane: Lane, prefix: boolean): Promise<Result> {
  // node --test with no file would look for every test file itself
  if (lane.files.length === 0) return Promise.resolve({ name: lane.name, code: 0, pass: 0, fail: 0, seconds: 0 });
  const t0 = performance.now();
  let pass = 0;
  let fail = 0;
  return new Promise((done) => {
    const child = spawn(
      process.execPath,
      ['--test', `--test-concurrency=${lane.concurrency ?? 1}`, '--test-reporter=spec', ...lane.files],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const relay = (out: NodeJS.WriteStream) => {
      let rest = '';
      return (chunk: Buffer): void => {
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines) {
          const m = /^ℹ (pass|fail) (\d+)$/.exec(l);
          if (m?.[1] === 'pass') pass = Number(m[2]);
          if (m?.[1] === 'fail') fail = Number(m[2]);
          out.write(prefix ? `[${lane.name}] ${l}\n` : `${l}\n`);
        }
      };
    };
    child.stdout.on('data', relay(process.stdout));
    child.stderr.on('data', relay(process.stderr));
    child.on('close', (code, signal) =>
      done({
        name: lane.name,
        code: code ?? (signal ? 1 : 0),
        pass,
        fail,
        seconds: (performance.now() - t0) / 1000,
      }),
    );
  });
}

const integration = files('integration');
const e2e = files('e2e');
const all = [...integration, ...e2e];
/**
 * Unit tests that run a daemon on the wall clock (its passes' own timing decides what it does):
 * beside three other files at once they were seen to miss their deadlines, so they run after the
 * others, one at a time.
 */
const TIMED = /\/(daemon|influx-writer)\.test\.ts$/;
const unit = files('unit');
const results: Result[] = [
  await runLane({ name: 'unit', files: unit.filter((f) => !TIMED.test(f)), concurrency: 4 }, false),
  await runLane({ name: 'unit-timed', files: unit.filter((f) => TIMED.test(f)) }, false),
];
if (process.argv.includes('--serial')) {
  results.push(
    await runLane(
      { name: 'all', files: [...all.filter((f) => !RESTARTS.test(f)), ...all.filter((f) => RESTARTS.test(f))] },
      false,
    ),
  );
} else {
  const beside = BESIDE.filter((f) => all.includes(f));
  results.push(
    ...(await Promise.all([
      runLane({ name: 'integration', files: integration.filter((f) => !RESTARTS.test(f)) }, true),
      runLane({ name: 'htcondor', files: beside }, true),
    ])),
  );
  results.push(
    await runLane(
      {
        name: 'e2e',
        files: [...e2e.filter((f) => !beside.includes(f) && !RESTARTS.test(f)), ...all.filter((f) => RESTARTS.test(f))],
      },
      false,
    ),
  );
}
for (const r of results)
  console.log(`lane ${r.name}: ${r.pass} passed, ${r.fail} failed, exit ${r.code}, ${r.seconds.toFixed(0)} s`);
const pass = results.reduce((a, r) => a + r.pass, 0);
const fail = results.reduce((a, r) => a + r.fail, 0);
console.log(`tests: ${pass} passed, ${fail} failed`);
process.exit(results.some((r) => r.code !== 0) || fail > 0 ? 1 : 0);
