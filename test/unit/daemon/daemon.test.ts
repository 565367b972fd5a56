import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { loadConfig } from '../../../src/config/load.ts';
import type { HostSample } from '../../../src/core/decision.ts';
import { Daemon, type DaemonHost } from '../../../src/daemon/daemon.ts';
import { RunDir } from '../../../src/daemon/run-dir.ts';
import { HostObserver } from '../../../src/host/observer.ts';
import { IoAccounting } from '../../../src/host/io-accounting.ts';
import type { IoMeter } from '../../../src/host/io-meter.ts';
import { IoWatch } from '../../../src/daemon/io-watch.ts';
import { createLogger } from '../../../src/report/logger.ts';
import { FakeEngine } from '../../support/fake-engine.ts';
import { waitFor } from '../../support/docker.ts';
import { passesIn } from '../../support/daemon.ts';

const host: HostSample = {
  at: 0,
  ncpus: 4,
  cpu: { busyPct: 0, perCpuBusyPct: [0, 0, 0, 0], intervalSec: 1 },
  memory: { totalBytes: 8e9, availableBytes: 8e9, swapTotalBytes: 0, swapFreeBytes: 0 },
};

function daemonWith(
  engine: FakeEngine,
  env: Record<string, string> = {},
  sampler: { sample(now: number): Promise<HostSample> } = { sample: () => Promise.resolve(host) },
  procRoot?: string,
  idle: Pick<DaemonHost, 'idle' | 'idleProblem' | 'retrySetup'> = {},
) {
  const config = () =>
    loadConfig({
      env: {
        PLANCTON_MAIN_SLEEP: '0.05',
        PLANCTON_MAX_DOCKS: '2',
        PLANCTON_INSTANCE_ID: 'unit',
        PLANCTON_PULL_RETRY: '0.2',
        ...env,
      },
      args: [],
    });
  const log = new PassThrough();
  let text = '';
  log.on('data', (c: Buffer) => (text += c.toString()));
  const runDir = new RunDir(mkdtempSync(join(tmpdir(), 'plancton-unit-')));
  const d = new Daemon(
    {
      engine,
      // the test process's own CPU is not the daemon's
      host: { observer: new HostObserver({ sampler, procRoot, selfCpu: () => ({ user: 0, system: 0 }) }), ...idle },
      runDir,
      logger: createLogger({ level: 'debug', stream: log, json: true }),
      identity: { instance: 'unit', hostname: 'h', version: 't' },
      reload: { load: () => Promise.resolve(config()) },
      apparmor: false,
      timing: { minIntervalMs: 0 },
    },
    config(),
  );
  return { d, runDir, log: () => text, done: d.run() };
}

describe('daemon shell with an in-memory engine', () => {
  let running: { d: Daemon; done: Promise<unknown> } | undefined;
  afterEach(async () => {
    running?.d.stop();
    await running?.done;
  });

  it('an idle set-up the start could not do (the engine did not answer) is tried before each pass; once done, pilots get the parent and status says idle', async () => {
    const engine = new FakeEngine();
    engine.registry.add('busybox');
    engine.down = true;
    let tries = 0;
    const parent = { parent: '/plancton', usageFile: '/nonexistent/cpuacct.usage', settings: 'cpu.idle=1 (test)' };
    running = daemonWith(engine, {}, undefined, undefined, {
      idleProblem: 'waiting for the engine to answer',
      retrySetup: () => {
        tries++;
        return Promise.resolve(engine.down ? undefined : { idle: parent });
      },
    });
    const r = running as ReturnType<typeof daemonWith>;
    await waitFor('two tries with the engine away', () => (tries >= 2 ? true : undefined), 5000);
    assert.equal(engine.pilots.size, 0);
    assert.match(r.log(), /pilots do NOT run at idle priority: waiting for the engine to answer/);
    engine.down = false;
    await waitFor('2 pilots', () => (engine.pilots.size === 2 ? true : undefined), 5000);
    for (const p of engine.pilots.values()) assert.equal(p.spec.cgroupParent, '/plancton');
    const settled = tries;
    await delay(200);
    assert.equal(tries, settled, 'not tried again once done');
    assert.match(r.log(), /pilots run at idle priority under \/plancton \(cpu\.idle=1 \(test\)\)/);
    await waitFor(
      'status: the parent as set up',
      () => {
        try {
          const st = JSON.parse(readFileSync(join(r.runDir.path, 'status.json'), 'utf8')) as {
            idlePriority?: { enabled: boolean; detail: string };
          };
          return st.idlePriority?.enabled && st.idlePriority.detail === 'cpu.idle=1 (test)' ? true : undefined;
        } catch {
          return undefined;
        }
      },
      5000,
    );
  });

  it("the disk's watch the start could not set up (the engine did not answer) comes with the engine, and is started then", async () => {
    const engine = new FakeEngine();
    engine.registry.add('busybox');
    engine.down = true;
    let measured = 0;
    const meter = {
      devices: new Map([['254:0', 'vda']]),
      measure: () => {
        measured++;
        return Promise.resolve(undefined);
      },
      writers: () => Promise.resolve(new Map()),
    } as unknown as IoMeter;
    const root = mkdtempSync(join(tmpdir(), 'plancton-unit-io-'));
    writeFileSync(join(root, 'cgroup.subtree_control'), 'cpu io memory\n');
    const io = new IoWatch(
      { mechanism: 'pause', detail: 'late' },
      meter,
      new IoAccounting({ cgroupRoot: root, cgroupVersion: '2' }),
    );
    running = daemonWith(engine, { PLANCTON_CGROUP_PARENT: '' }, undefined, undefined, {
      retrySetup: () => Promise.resolve(engine.down ? undefined : { io }),
    });
    const r = running as ReturnType<typeof daemonWith>;
    await waitFor('the wait said', () =>
      r.log().includes("the disk's watch waits for the engine") ? true : undefined,
    );
    await delay(100);
    assert.equal(measured, 0, 'no watch before the engine answers');
    assert.doesNotMatch(r.log(), /the disk: pause/);
    engine.down = false;
    await waitFor('the disk read between passes', () => (measured >= 1 ? true : undefined), 5000);
    assert.match(r.log(), /the disk: pause \(late\)/);
    assert.doesNotMatch(r.log(), /pilots do NOT run at idle priority: /, 'no idle parent asked for: no idle problem');
  });

  it('pulls a missing image, then starts pilots from it', async () => {
    const engine = new FakeEngine();
    engine.registry.add('busybox');
    running = daemonWith(engine);
    await waitFor('2 pilots', () => (engine.pilots.size === 2 ? true : undefined), 5000);
    assert.equal(engine.calls.filter((c) => c === 'pull busybox').length, 1);
    assert.ok(engine.calls.indexOf('pull busybox') < engine.calls.indexOf('start'));
  });

  it('a failed pull of a missing image starts nothing and is retried after pull_retry', async () => {
    const engine = new FakeEngine();
    running = daemonWith(engine);
    await waitFor(
      'two pull attempts',
      () => (engine.calls.filter((c) => c.startsWith('pull')).length >= 2 ? true : undefined),
      5000,
    );
    assert.equal(engine.pilots.size, 0);
    assert.ok(!engine.calls.includes('start'));
    const iterations = engine.calls.filter((c) => c === 'list').length;
    assert.ok(iterations > engine.calls.filter((c) => c.startsWith('pull')).length, 'not a pull on every iteration');
    engine.registry.add('busybox');
    await waitFor('2 pilots once the registry has it', () => (engine.pilots.size === 2 ? true : undefined), 5000);
  });

  it('an image found at start is not pulled again before image_expiration', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    running = daemonWith(engine);
    await waitFor('2 pilots', () => (engine.pilots.size === 2 ? true : undefined), 5000);
    assert.ok(!engine.calls.some((c) => c.startsWith('pull')));
  });

  /** A host with the owner at 10% of 2 CPUs that reads 90% busy over any interval in which pilots were started (the engine's own work). */
  function engineWorkHost(engine: FakeEngine): { sample(now: number): Promise<HostSample> } {
    let last = Date.now();
    let startsSeen = 0;
    return {
      sample: (now: number): Promise<HostSample> => {
        const starts = engine.calls.filter((c) => c === 'start').length;
        const busyPct = starts > startsSeen ? 90 : 10;
        const intervalSec = Math.max(0.001, (now - last) / 1000);
        [last, startsSeen] = [now, starts];
        return Promise.resolve({
          ...host,
          at: now,
          ncpus: 2,
          cpu: { busyPct, perCpuBusyPct: [busyPct, busyPct], intervalSec },
        });
      },
    };
  }
  const iterationsOf = (log: string) =>
    passesIn<{
      started: number;
      toStart: number;
      ownerDisturbed?: boolean;
      cpuBusyPct: number;
      overloaded: boolean;
      pilots: number;
    }>(log);
  // 20 pilots of 0.05 CPU (their share 50%), docks_per_loop 4
  const fillEnv = {
    PLANCTON_MAX_DOCKS: '20',
    PLANCTON_CPUS_PER_DOCK: '0.05',
    PLANCTON_DOCKS_PER_LOOP: '4',
    PLANCTON_CGROUP_PARENT: '',
  };

  it("fills every slot in one pass with docks_per_loop starts in flight, and does not take the engine's work that follows for the owner", async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    engine.startDelayMs = 40;
    let inFlight = 0;
    let most = 0;
    const start = engine.createAndStart.bind(engine);
    engine.createAndStart = async (spec) => {
      most = Math.max(most, ++inFlight);
      try {
        return await start(spec);
      } finally {
        inFlight--;
      }
    };
    const r = daemonWith(engine, { ...fillEnv, PLANCTON_MAIN_SLEEP: '0.2' }, engineWorkHost(engine));
    running = r;
    await waitFor('20 pilots', () => (engine.pilots.size === 20 ? true : undefined), 5000);
    await waitFor('3 passes', () => (iterationsOf(r.log()).length >= 3 ? true : undefined), 5000);
    assert.equal(most, 4, 'at most docks_per_loop starts in flight');
    const [fill, after, later] = iterationsOf(r.log());
    assert.equal(fill?.started, 20);
    // the pass after the fill reads 90% busy: 90 + 50 - 100 = 40 points over, an overload by the reading itself
    assert.deepEqual([after?.cpuBusyPct, after?.ownerDisturbed, after?.overloaded], [90, true, false]);
    assert.deepEqual([later?.cpuBusyPct, later?.ownerDisturbed, later?.overloaded], [10, false, false]);
    assert.ok(!engine.calls.includes('pause'), 'no pilot paused');
  });

  it('a pass held back by a stand-in owner figure looks again 2 s later with a clean reading, not after main_sleep', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    // starts that take time, as a real engine's do: the next reading is then mostly that work
    // (share over OWN_WORK_SHARE_MAX). Instant starts left the share to the time the rest of the
    // pass took (status, log), which a loaded machine stretched past 80% of the interval, 1 run in 8.
    engine.startDelayMs = 40;
    // the first reading is 60% busy (a start-up blip), later ones 10%, or 90% right after starts
    const host2 = engineWorkHost(engine);
    let calls = 0;
    const sampler = {
      sample: async (now: number): Promise<HostSample> => {
        const s = await host2.sample(now);
        // call 1 primes the CPU baseline; call 2 is the first pass's reading
        return ++calls === 2 && s.cpu ? { ...s, cpu: { ...s.cpu, busyPct: 60 } } : s;
      },
    };
    const r = daemonWith(engine, { ...fillEnv, PLANCTON_MAIN_SLEEP: '30' }, sampler);
    running = r;
    // 60%: floor((105 - 60) * 2 / 5) = 18 start; then 90% (disturbed, 60 stands in): none, room 2; 2 s later 10%: the last 2
    // well under main_sleep (30 s), with room for a loaded machine
    await waitFor('20 pilots', () => (engine.pilots.size === 20 ? true : undefined), 15_000);
    // the pass that started the last two logs a moment after the engine shows them
    await waitFor('3 passes', () => (iterationsOf(r.log()).length >= 3 ? true : undefined), 5000);
    const passes = iterationsOf(r.log());
    assert.deepEqual(
      passes.slice(0, 3).map((p) => [p.cpuBusyPct, p.started]),
      [
        [60, 18],
        [90, 0],
        [10, 2],
      ],
    );
  });

  it('a drain written during a fill stops it from taking new starts', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    engine.startDelayMs = 250; // 20 starts, 4 at a time: 1.25 s
    const r = daemonWith(engine, { ...fillEnv, PLANCTON_MAIN_SLEEP: '30' }, engineWorkHost(engine));
    running = r;
    await waitFor('the first pilot', () => (engine.pilots.size > 0 ? true : undefined), 5000);
    await r.runDir.set('drain', 'test');
    await waitFor(
      'a pass that sees the drain',
      () => (r.log().includes('"status":"draining"') ? true : undefined),
      5000,
    );
    const n = engine.pilots.size;
    assert.ok(n >= 4 && n <= 12, `${n} pilots: the starts in flight finished, no new one was taken`);
    await delay(500);
    assert.equal(engine.pilots.size, n);
    const [fill] = iterationsOf(r.log());
    assert.deepEqual(
      [fill?.toStart, fill?.started],
      [20, n],
      'the fill pass logs what it decided and what it did start',
    );
  });

  it('reports waiting while the engine is unreachable, and carries on when it returns', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    engine.down = true;
    const r = daemonWith(engine);
    running = r;
    await waitFor('waiting logged', () => (r.log().includes('engine unreachable, waiting') ? true : undefined), 5000);
    const st = (await r.runDir.readStatus()) as { state: string; engine: { reachable: boolean } };
    assert.equal(st.state, 'waiting');
    assert.equal(st.engine.reachable, false);
    engine.down = false;
    await waitFor('2 pilots after the engine returned', () => (engine.pilots.size === 2 ? true : undefined), 10_000);
    assert.match(r.log(), /engine reachable again/);
  });

  it('SIGTERM-like stop ends run() with reason signal and leaves pilots running', async () => {
    const engine = new FakeEngine();
    engine.images.add('busybox');
    const r = daemonWith(engine);
    await waitFor('2 pilots', () => (engine.pilots.size === 2 ? true : undefined), 5000);
    r.d.stop();
    r.d.stop(); // idempotent
    assert.equal(await r.done, 'signal');
    assert.equal(engine.pilots.size, 2);
    assert.ok([...engine.pilots.values()].every((p) => p.state === 'running'));
  });
  it('memory short: the watch wakes the loop to take a pilot, and no more once none is left', async () => {
    // 1 GB available of 8: under mem_floor 50%, for the passes (the sampler) and for the watch (meminfo)
    const short: HostSample = { ...host, memory: { ...host.memory, availableBytes: 1e9 } };
    const proc = mkdtempSync(join(tmpdir(), 'plancton-unit-proc-'));
    writeFileSync(join(proc, 'meminfo'), 'MemTotal: 7812500 kB\nMemFree: 976562 kB\nMemAvailable: 976562 kB\n');
    const engine = new FakeEngine();
    engine.images.add('busybox');
    const env = { PLANCTON_MAIN_SLEEP: '30', PLANCTON_MEM_FLOOR: '0', PLANCTON_MAX_DOCKS: '1' };
    // a first daemon with no floor starts the pilot, a second (the same engine) finds it and memory short
    const first = daemonWith(engine, env);
    await waitFor('a pilot', () => (engine.pilots.size === 1 ? true : undefined), 5000);
    first.d.stop();
    await first.done;
    const r = daemonWith(engine, { ...env, PLANCTON_MEM_FLOOR: '50%' }, { sample: () => Promise.resolve(short) }, proc);
    running = r;
    // the first pass comes 1 s after start (a CPU interval): it takes the pilot, main_sleep 30 s after it
    await waitFor('the pilot removed for memory', () => (engine.pilots.size === 0 ? true : undefined), 5000);
    const passes = iterationsOf(r.log()).length;
    // the watch reads twice a second: with a pilot left it would wake a pass each time
    await delay(2000);
    assert.equal(iterationsOf(r.log()).length, passes, 'no pass woken for memory with no pilot to take');
    assert.match(r.log(), /"reason":"memory"/);
  });
});
