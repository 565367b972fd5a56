/**
 * The pilots' shell scripts: shellcheck-clean, and their mapping to the pilot contract's exit
 * codes, run on the host against stand-ins of work_queue_worker and of the HTCondor commands
 * (small scripts that play the outcomes: tasks run, none, a failure, a stop signal). The real
 * programs are exercised by test/e2e/workqueue.test.ts (WorkQueue) and
 * test/e2e/htcondor-pool.test.ts (HTCondor, the Debian flavour of the image).
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { REQUIRE_ENGINE_ENV } from '../../support/docker.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const WQ = join(ROOT, 'pilots/workqueue/entrypoint.sh');
const CONDOR = join(ROOT, 'pilots/htcondor/entrypoint.sh');
const WRAPPER = join(ROOT, 'pilots/htcondor/parrot-wrapper.sh');

const scripts = (): string[] => [
  ...['workqueue', 'htcondor'].flatMap((p) =>
    readdirSync(join(ROOT, 'pilots', p))
      .filter((f) => f.endsWith('.sh'))
      .map((f) => join(ROOT, 'pilots', p, f)),
  ),
  ...['workqueue-setup.sh', 'htcondor-setup.sh'].map((f) => join(ROOT, '.ci/setup', f)).filter((f) => existsSync(f)),
];

const shellcheck = await execa('shellcheck', ['--version'], { reject: false });
const noShellcheck = shellcheck.failed
  ? process.env[REQUIRE_ENGINE_ENV] === '1'
    ? false // under CI the test runs and fails, naming the missing tool
    : 'skipped: shellcheck is not installed (apt-get install shellcheck); set PLANCTON_REQUIRE_ENGINE=1 to fail instead'
  : false;

describe('pilot scripts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'plancton-pilot-scripts-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('are shellcheck-clean', { skip: noShellcheck }, async () => {
    assert.ok(!shellcheck.failed, 'shellcheck is installed');
    const files = scripts();
    assert.ok(files.length >= 4, `scripts found: ${files.join(', ')}`);
    const r = await execa('shellcheck', ['--severity=style', ...files], { reject: false });
    assert.equal(r.exitCode, 0, r.stdout);
  });

  /** A directory of stand-in commands, first on PATH. */
  function stubs(
    name: string,
    files: Record<string, string>,
  ): { bin: string; state: string; env: Record<string, string> } {
    const base = join(dir, name);
    const bin = join(base, 'bin');
    const state = join(base, 'state');
    mkdirSync(bin, { recursive: true });
    mkdirSync(state, { recursive: true });
    for (const [f, body] of Object.entries(files)) {
      writeFileSync(join(bin, f), `#!/bin/bash\nSTATE=${JSON.stringify(state)}\n${body}`);
      chmodSync(join(bin, f), 0o755);
    }
    return { bin, state, env: { PATH: `${bin}:${process.env['PATH'] ?? ''}` } };
  }

  describe('workqueue entrypoint', () => {
    // Plays work_queue_worker: records its arguments, writes a debug stream like the real one's
    // (`-d wq -o FILE`) for MODE tasks:N | none | fail:N | busy:SECONDS, exits 0 on SIGTERM.
    const worker = `
printf '%s\\n' "$@" > "$STATE/args"
out=
while (($#)); do if [[ $1 == -o ]]; then out=$2; fi; shift; done
exec 3>"$out"
log() { printf '2026/01/01 00:00:00.00 work_queue_worker[%d] wq: %s\\n' $$ "$1" >&3; }
trap 'date +%s.%N > "$STATE/term"; kill $! 2>/dev/null; exit 0' TERM
log "connected to manager 127.0.0.1:9123 via local address 127.0.0.1:4000"
case $MODE in
  tasks:*) for ((i = 1; i <= \${MODE#tasks:}; i++)); do log "rx from manager: task $i"; log "started process 99$i: echo $i"; log "task $i (pid 99$i) exited normally with exit code 0"; log "tx to manager: result 0 0 2 100 $i"; done ;;
  none) ;;
  fail:*) exit "\${MODE#fail:}" ;;
  idle) sleep 60 3>&- & wait $! ;;
  busy:*) log "rx from manager: task 1"; log "started process 991: sleep"; sleep "\${MODE#busy:}" 3>&- & wait $!; log "tx to manager: result 0 0 2 100 1"; date +%s.%N > "$STATE/reported"; sleep 60 3>&- & wait $! ;;
esac
`;
    const run = async (mode: string, env: Record<string, string>, signalAfterMs?: number) => {
      const s = stubs(`wq-${mode.replace(/\W/g, '_')}-${Object.keys(env).length}`, { work_queue_worker: worker });
      const p = execa('bash', [WQ], {
        reject: false,
        forceKillAfterDelay: false,
        env: { ...s.env, MODE: mode, WORKQUEUE_WORKDIR: s.state, ...env },
        extendEnv: true,
      });
      if (signalAfterMs !== undefined) {
        await delay(signalAfterMs);
        p.kill('SIGTERM');
      }
      const r = await p;
      const args = existsSync(join(s.state, 'args'))
        ? readFileSync(join(s.state, 'args'), 'utf8').trim().split('\n')
        : [];
      return { code: r.exitCode, stderr: String(r.stderr), args, state: s.state };
    };
    const manager = { WORKQUEUE_MANAGER_HOST: '127.0.0.1', WORKQUEUE_MANAGER_PORT: '9123' };

    it('exits 0 ("done") when the worker ran tasks, with the contract turned into worker options', async () => {
      const deadline = Math.floor(Date.now() / 1000) + 3600;
      const r = await run('tasks:3', {
        ...manager,
        PLANCTON_CPUS: '2.5',
        PLANCTON_MEMORY_BYTES: String(512 * 1048576),
        PLANCTON_DEADLINE: String(deadline),
        PLANCTON_STOP_TIMEOUT: '20',
        WORKQUEUE_IDLE_TIMEOUT: '7',
      });
      assert.equal(r.code, 0, r.stderr);
      const opt = (name: string): string | undefined => r.args[r.args.indexOf(name) + 1];
      assert.equal(opt('--cores'), '3', 'PLANCTON_CPUS rounded up');
      assert.equal(opt('--memory'), '512', 'PLANCTON_MEMORY_BYTES in MB');
      assert.equal(opt('--idle-timeout'), '7');
      assert.equal(opt('--connect-timeout'), '7', 'the connect timeout follows the idle timeout');
      const wall = Number(opt('--wall-time'));
      assert.ok(
        Math.abs(wall - (3600 + 15)) <= 2,
        `--wall-time ${wall} is the time to the deadline plus the stop grace (20 - 5)`,
      );
      assert.ok(r.args.includes('--single-shot') && r.args.includes('--parent-death'));
      assert.deepEqual(r.args.slice(-2), ['127.0.0.1', '9123'], 'the manager last');
      assert.match(r.stderr, /ran 3 task/);
    });

    it('exits 75 ("no work") when the worker never got a task', async () => {
      const r = await run('none', { ...manager, PLANCTON_CPUS: '0.05' });
      assert.equal(r.code, 75, r.stderr);
      assert.equal(r.args[r.args.indexOf('--cores') + 1], '1', 'at least one core');
      assert.ok(!r.args.includes('--memory'), 'no --memory without a limit');
    });

    it('passes a failure of the worker on ("failed")', async () => {
      assert.equal((await run('fail:3', manager)).code, 3);
    });

    it('exits 78 without a manager, and 75 at once when the deadline has passed', async () => {
      assert.equal((await run('none', {})).code, 78);
      assert.equal((await run('none', { ...manager, WORKQUEUE_IDLE_TIMEOUT: 'soon' })).code, 78);
      const late = await run('tasks:1', {
        ...manager,
        PLANCTON_DEADLINE: String(Math.floor(Date.now() / 1000) - 60),
        PLANCTON_STOP_TIMEOUT: '10',
      });
      assert.equal(late.code, 75);
      assert.deepEqual(late.args, [], 'no worker started');
    });

    it('finds a manager by project name through a catalog', async () => {
      const r = await run('none', { WORKQUEUE_PROJECT: 'my-project', WORKQUEUE_CATALOG: 'catalog.example.org:9097' });
      assert.deepEqual(r.args.slice(-4), ['-M', 'my-project', '-C', 'catalog.example.org:9097']);
    });

    it('on SIGTERM lets the running task finish and be reported, then stops the worker and exits 0', async () => {
      const r = await run('busy:2', { ...manager, PLANCTON_STOP_TIMEOUT: '10' }, 800);
      assert.equal(r.code, 0, r.stderr);
      const reported = Number(readFileSync(join(r.state, 'reported'), 'utf8'));
      const term = Number(readFileSync(join(r.state, 'term'), 'utf8'));
      assert.ok(term >= reported, 'the worker was told to go after the result was reported');
      assert.match(r.stderr, /giving 1 running task/);
    });

    it('on SIGTERM with an idle worker leaves at once with 75', async () => {
      const t0 = Date.now();
      const r = await run('idle', { ...manager, PLANCTON_STOP_TIMEOUT: '10' }, 800);
      assert.equal(r.code, 75, r.stderr);
      assert.ok(Date.now() - t0 < 3000, 'no grace spent on an idle worker');
      assert.ok(existsSync(join(r.state, 'term')), 'the worker was told to go');
    });
  });

  describe('htcondor entrypoint', () => {
    // Plays condor_master (MODE jobs | idle | fail:N | wait), condor_off (records, ends the
    // master) and condor_config_val (the log directory).
    const files = {
      condor_master: `
echo $$ > "$STATE/master.pid"
mkdir -p "$STATE/log"
trap 'kill $! 2>/dev/null; exit 0' TERM
case $MODE in
  jobs) echo "01/01/26 00:00:00 slot1_1: Changing activity: Idle -> Busy" >> "$STATE/log/StartLog"; sleep 0.2 ;;
  idle) sleep 0.2 ;;
  fail:*) exit "\${MODE#fail:}" ;;
  wait) sleep 60 & wait $! ;;
esac
`,
      condor_off: `
echo "$*" >> "$STATE/condor_off"
if [[ $* == *-fast* || ($* == *peaceful* && \${PEACEFUL_ENDS:-yes} == yes) ]]; then kill -TERM "$(cat "$STATE/master.pid")"; fi
`,
      condor_config_val: 'if [[ $1 == LOG ]]; then echo "$STATE/log"; fi\n',
    };
    const run = async (
      name: string,
      mode: string,
      env: Record<string, string>,
      signalAfterMs?: number,
      token = true,
    ) => {
      const s = stubs(`condor-${name}`, files);
      const etc = join(s.state, 'etc');
      const cfg = join(etc, 'config.d');
      mkdirSync(cfg, { recursive: true });
      mkdirSync(join(etc, 'tokens-orig.d'));
      if (token) writeFileSync(join(etc, 'tokens-orig.d', 'pilot'), 'eyJ.token\n', { mode: 0o644 });
      const p = execa('bash', [CONDOR], {
        reject: false,
        extendEnv: true,
        forceKillAfterDelay: false,
        env: { ...s.env, MODE: mode, HTCONDOR_ETC_DIR: etc, PLANCTON_PARROT_ENV: join(s.state, 'parrot.env'), ...env },
      });
      if (signalAfterMs !== undefined) {
        await delay(signalAfterMs);
        p.kill('SIGTERM');
      }
      const r = await p;
      const read = (f: string): string => (existsSync(join(s.state, f)) ? readFileSync(join(s.state, f), 'utf8') : '');
      return {
        code: r.exitCode,
        stderr: String(r.stderr),
        read,
        etc,
        config: existsSync(join(cfg, '40-plancton-env.conf'))
          ? readFileSync(join(cfg, '40-plancton-env.conf'), 'utf8')
          : '',
      };
    };
    const cm = { CONDOR_HOST: 'cm.example.org:9618' };

    it('writes the node configuration from the contract and exits 0 when the startd ran jobs', async () => {
      const deadline = Math.floor(Date.now() / 1000) + 7200;
      const r = await run('jobs', 'jobs', {
        ...cm,
        PLANCTON_CPUS: '1.5',
        PLANCTON_MEMORY_BYTES: String(2000000000),
        PLANCTON_DEADLINE: String(deadline),
        PLANCTON_STOP_TIMEOUT: '600',
        PLANCTON_PILOT_ID: 'abc123',
        PLANCTON_HOST: 'host-1',
        HTCONDOR_IDLE_TIMEOUT: '300',
        CVMFS_HTTP_PROXY: 'http://squid:3128;DIRECT',
      });
      assert.equal(r.code, 0, r.stderr);
      const conf = Object.fromEntries(
        r.config
          .split('\n')
          .filter((l) => l.includes(' = '))
          .map((l) => l.split(' = ') as [string, string]),
      );
      assert.equal(conf['CONDOR_HOST'], 'cm.example.org:9618');
      assert.equal(conf['TRUST_DOMAIN'], 'cm.example.org', "the tokens' issuer: the central manager without the port");
      assert.equal(conf['NUM_CPUS'], '2');
      assert.equal(conf['MEMORY'], String(Math.floor(2000000000 / 1048576)));
      assert.equal(conf['PLANCTON_IDLE_TIME'], '300');
      assert.equal(conf['PLANCTON_UPDATE_INTERVAL'], '75', 'the startd checks its idle time a quarter of it apart');
      assert.equal(
        conf['PLANCTON_CLAIM_END'],
        String(deadline - 60),
        'no claim in the last HTCONDOR_DEADLINE_MARGIN seconds',
      );
      assert.equal(conf['PLANCTON_RETIRE_TIME'], String(600 - 30 - 5));
      assert.equal(conf['PLANCTON_JOB_END'], String(deadline + 565 + 30));
      assert.equal(conf['PLANCTON_PILOT_ID'], '"abc123"');
      assert.match(r.read('parrot.env'), /^CVMFS_HTTP_PROXY=http:\/\/squid:3128\\;DIRECT$/m);
      // the mounted token, installed where the daemons read it, readable by root alone
      assert.equal(readFileSync(join(r.etc, 'tokens.d', 'pilot'), 'utf8'), 'eyJ.token\n');
      assert.equal(statSync(join(r.etc, 'tokens.d', 'pilot')).mode & 0o777, 0o600);
      assert.equal(statSync(join(r.etc, 'tokens.d')).mode & 0o777, 0o700);
    });

    it('exits 78 (misconfigured) when no token is mounted and no pool password is used', async () => {
      const r = await run('notoken', 'jobs', cm, undefined, false);
      assert.equal(r.code, 78);
      assert.match(r.stderr, /no IDTOKEN mounted at .*tokens-orig\.d/);
    });

    it('exits 75 when unclaimed until the idle shutdown, and passes a failure of the master on', async () => {
      assert.equal((await run('idle', 'idle', cm)).code, 75);
      assert.equal((await run('fail', 'fail:4', cm)).code, 4);
      assert.equal((await run('nohost', 'idle', {})).code, 78);
    });

    it('on SIGTERM shuts the startd down peacefully first', async () => {
      const r = await run('term', 'wait', { ...cm, PLANCTON_STOP_TIMEOUT: '60' }, 500);
      assert.equal(r.code, 75, r.stderr);
      assert.equal(r.read('condor_off').trim(), '-peaceful -daemon master');
    });

    it('on SIGTERM turns graceful, then fast, when the jobs outlast the grace', async () => {
      // stop_timeout 3 = no retirement (3 - 1 - 5 < 0), 1 s to vacate, then fast
      const r = await run(
        'slow',
        'wait',
        { ...cm, PLANCTON_STOP_TIMEOUT: '3', HTCONDOR_VACATE_TIME: '1', PEACEFUL_ENDS: 'no' },
        500,
      );
      assert.equal(
        r.read('condor_off').trim().split('\n').join(' | '),
        '-peaceful -daemon master | -force-graceful -daemon master | -fast -daemon master',
        'peaceful, graceful, then fast',
      );
      assert.equal(r.code, 75);
    });
  });

  describe('parrot job wrapper', () => {
    const run = async (env: Record<string, string>, withParrot: boolean) => {
      const s = stubs(
        `parrot-${Object.keys(env).join('-') || 'plain'}-${withParrot}`,
        withParrot
          ? { parrot_run: 'printf "%s\\n" "HTTP_PROXY=$HTTP_PROXY" "$@" > "$STATE/parrot"; shift 3; exec "$@"\n' }
          : {},
      );
      const errFile = join(s.state, 'wrapper-error');
      const r = await execa('bash', [WRAPPER, 'sh', '-c', 'echo ran "$0"', 'job'], {
        reject: false,
        extendEnv: true,
        env: {
          ...s.env,
          _CONDOR_SCRATCH_DIR: s.state,
          _CONDOR_WRAPPER_ERROR_FILE: errFile,
          PLANCTON_PARROT_ENV: join(s.state, 'none.env'),
          ...env,
        },
      });
      const parrot = existsSync(join(s.state, 'parrot'))
        ? readFileSync(join(s.state, 'parrot'), 'utf8').trim().split('\n')
        : [];
      return {
        code: r.exitCode,
        stdout: String(r.stdout),
        parrot,
        error: existsSync(errFile) ? readFileSync(errFile, 'utf8') : '',
        scratch: s.state,
      };
    };

    it('runs the job under parrot_run, with the site proxy and a temp dir in the job scratch', async () => {
      const r = await run({ CVMFS_HTTP_PROXY: 'http://squid:3128' }, true);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, 'ran job');
      assert.deepEqual(r.parrot.slice(0, 4), [
        'HTTP_PROXY=http://squid:3128',
        '--tempdir',
        join(r.scratch, '.parrot'),
        '--',
      ]);
    });

    it('runs the job directly when Parrot is turned off, and holds it with a reason when parrot_run is missing', async () => {
      const off = await run({ PLANCTON_PARROT: 'off' }, false);
      assert.equal(off.stdout, 'ran job');
      assert.deepEqual(off.parrot, []);
      const missing = await run({ PATH: '/usr/bin:/bin' }, false);
      assert.equal(missing.code, 1);
      assert.match(missing.error, /parrot_run not found/);
    });
  });
});
