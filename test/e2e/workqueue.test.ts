/**
 * WorkQueue pilots end to end, on the real engine: the image built from pilots/workqueue, a
 * WorkQueue manager on the host with a batch of tasks, and the built `plancton` running
 * config/workqueue.yaml pointed at it. Every task must come back with the right output; when
 * the queue is empty the pilots must leave and Plancton back off instead of churning; tasks
 * added later must be picked up again. Pilot starts and ends are read from the engine's event
 * stream, not from Plancton.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { DaemonProcess } from '../support/daemon.ts';
import { docker, randomInstance, removeByLabel, waitFor } from '../support/docker.ts';
import {
  DEBIAN_IMAGE,
  PilotEvents,
  ROOT,
  WORKQUEUE_IMAGE,
  WorkqueueManager,
  buildPilotImage,
  hostCaTail,
  requireWorkqueue,
  type TaskSpec,
} from '../support/pilot-images.ts';

const skip = await requireWorkqueue();

/** Seconds a worker waits for a task before it leaves (60 in config/workqueue.yaml; short here). */
const IDLE = 5;
const MAX_DOCKS = 3;
const BACKOFF = { base: 4, max: 40 };
const SECRET_IN_PILOT = '/run/secrets/workqueue-password';

const expected = (n: number): string => createHash('sha256').update(`plancton-${n}`).digest('hex');
/** A task that takes a second and computes something checkable; it also names the pilot it ran in (its host name). */
const task = (batch: string, n: number): TaskSpec => ({
  tag: `${batch}-${n}`,
  command: `sleep 1; printf 'plancton-%s' ${n} | sha256sum; cat /proc/sys/kernel/hostname`,
});
/** The digest and the pilot's host name (plancton-<host>-<pilot id>) from a task's output. */
const parse = (output: string): { digest: string; host: string } => {
  const lines = output.trim().split('\n');
  return { digest: (lines[0] ?? '').split(/\s+/)[0] ?? '', host: lines.at(-1) ?? '' };
};

/** config/workqueue.yaml as a site has it, pointed at the test's manager and made quick. */
function testConfig(instance: string, port: number, passwordFile: string): string {
  const site = parseYaml(readFileSync(resolve(ROOT, 'config/workqueue.yaml'), 'utf8')) as Record<string, unknown>;
  const siteEnv = (site['docker_env'] as string[]).filter(
    (e) => !/^WORKQUEUE_(MANAGER_HOST|MANAGER_PORT|IDLE_TIMEOUT)=/.test(e),
  );
  return stringifyYaml({
    ...site,
    instance_id: instance,
    main_sleep: 1,
    updateconfig: 1,
    log_level: 'debug',
    docker_image: WORKQUEUE_IMAGE,
    // the manager listens on the host; these pilots reach it on the host's loopback
    docker_network: 'host',
    docker_env: [
      ...siteEnv,
      'WORKQUEUE_MANAGER_HOST=127.0.0.1',
      `WORKQUEUE_MANAGER_PORT=${port}`,
      `WORKQUEUE_IDLE_TIMEOUT=${IDLE}`,
      `WORKQUEUE_PASSWORD_FILE=${SECRET_IN_PILOT}`,
    ],
    binds: [`${passwordFile}:${SECRET_IN_PILOT}:ro`],
    // half a CPU each (the worker rounds up to one core), three at most on these 2-CPU machines
    cpus_per_dock: 0.5,
    max_docks: MAX_DOCKS,
    max_dock_mem: 256 * 1024 * 1024,
    // a stopped pilot's tasks get 15 - 5 (WORKQUEUE_STOP_MARGIN) = 10 s to finish
    stop_timeout: 15,
    backoff_base: BACKOFF.base,
    backoff_max: BACKOFF.max,
    // the test itself must not make Plancton give the CPU back
    grace_kill: 600,
    grace_spawn: 0,
    pause_max: 0,
  });
}

describe('WorkQueue pilots on a real workload', { skip, timeout: 20 * 60_000 }, () => {
  const instance = randomInstance();
  const dir = mkdtempSync(join(tmpdir(), 'plancton-wq-'));
  const passwordFile = join(dir, 'password');
  const manager = new WorkqueueManager();
  let daemon: DaemonProcess | undefined;
  let events: PilotEvents | undefined;

  before(async () => {
    await buildPilotImage('workqueue', WORKQUEUE_IMAGE, { BASE_IMAGE: DEBIAN_IMAGE });
    writeFileSync(passwordFile, `${instance}-${Math.random().toString(36).slice(2)}\n`);
    chmodSync(passwordFile, 0o644);
    await manager.start(passwordFile);
  });

  after(async () => {
    await daemon?.cleanup();
    await events?.stop();
    await removeByLabel(`org.plancton.instance=${instance}`);
    await manager.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds the image: the worker, an unprivileged user, the site CA from certs/', async () => {
    const out = await docker([
      'run',
      '--rm',
      '--entrypoint',
      '/bin/sh',
      WORKQUEUE_IMAGE,
      '-c',
      'id -u; command -v work_queue_worker; command -v workqueue-pilot; cat /etc/ssl/certs/ca-certificates.crt',
    ]);
    const [uid, worker, pilot] = out.split('\n');
    assert.equal(uid, '1000');
    assert.equal(worker, '/usr/bin/work_queue_worker');
    assert.equal(pilot, '/usr/local/bin/workqueue-pilot');
    const ca = hostCaTail();
    if (ca !== undefined) assert.ok(out.includes(ca), "the host's CA (dropped into certs/) is trusted in the image");
  });

  it('runs every task of a batch, pilots leave when the queue is empty, no churn, later tasks picked up', async (t) => {
    const batch = Array.from({ length: 20 }, (_, i) => task('a', i + 1));
    manager.submit(batch);
    events = new PilotEvents(instance);
    await delay(500); // the event stream is attached before the first pilot can start
    daemon = new DaemonProcess(testConfig(instance, manager.port, passwordFile)).start();
    const t0 = Date.now();

    const done = await manager
      .allDone(
        batch.map((b) => b.tag),
        240_000,
      )
      .catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\ndaemon log tail:\n${daemon?.log.slice(-3000)}`);
      });
    const tLast = Math.max(...done.map((d) => d.at * 1000));
    for (const [i, d] of done.entries()) {
      assert.equal(d.result, 0, `task ${d.tag} was run and returned`);
      assert.equal(d.exit, 0, `task ${d.tag} succeeded`);
      assert.equal(parse(d.output).digest, expected(i + 1), `task ${d.tag} computed the right digest`);
    }
    const starts = events.starts(t0 - 1000).filter((e) => e.at <= tLast);
    const ours = new Set(events.starts().map((e) => e.pilotId));
    const hosts = new Set(done.map((d) => parse(d.output).host));
    const seconds = (tLast - t0) / 1000;
    t.diagnostic(
      `batch of ${batch.length} tasks: ${seconds.toFixed(1)} s from Plancton's start to the last result, ` +
        `${(batch.length / seconds).toFixed(2)} tasks/s, ${starts.length} pilot starts (${(starts.length / batch.length).toFixed(2)} starts/task), ` +
        `${hosts.size} pilots ran tasks`,
    );
    assert.ok(
      [...hosts].every((h) => ours.has(h.split('-').at(-1) ?? '')),
      `every task ran in one of our pilots (${[...hosts].join(', ')})`,
    );
    assert.ok(
      starts.length <= MAX_DOCKS + 2,
      `a batch this small needs no more than the first pilots (${starts.length} starts)`,
    );

    // The queue is empty: the pilots leave after the idle timeout, and Plancton backs off.
    // A worker notices its idle timeout on a 5 s tick and waits 5 s more after disconnecting
    // (cctools), so a pilot on an empty queue lives IDLE + 5 to IDLE + 10 s.
    const LINGER = 10_000;
    const WINDOW = 120_000;
    await delay(tLast + WINDOW - Date.now());
    const batchPilots = events.starts().filter((e) => e.at <= tLast);
    const ended = new Map(events.dies().map((e) => [e.id, e]));
    for (const p of batchPilots) {
      const end = ended.get(p.id);
      assert.ok(end, `pilot ${p.pilotId} of the batch left once the queue was empty`);
      // slack for a replacement started just before the last result and a slow worker start
      assert.ok(
        end.at - tLast < IDLE * 1000 + LINGER + 10_000,
        `pilot ${p.pilotId} left after the idle timeout (after ${end.at - tLast} ms)`,
      );
      assert.ok(end.exitCode === 0 || end.exitCode === 75, `pilot ${p.pilotId} exited 0 or 75, not ${end.exitCode}`);
    }
    assert.ok(
      batchPilots.some((p) => ended.get(p.id)?.exitCode === 0),
      'the pilots that ran tasks exited 0 ("done")',
    );
    const idleStarts = events.starts(tLast + 1);
    for (const p of idleStarts) {
      const end = ended.get(p.id);
      if (end) assert.equal(end.exitCode, 75, `pilot ${p.pilotId}, started on an empty queue, exited 75 ("no work")`);
    }
    // Churning would restart every slot as soon as its pilot idles out: about
    // MAX_DOCKS * WINDOW / (lifetime + a pass) starts. The contract's backoff leaves a fraction.
    const lives = idleStarts
      .flatMap((p) => {
        const end = ended.get(p.id);
        return end ? [end.at - p.at] : [];
      })
      .sort((a, b) => a - b);
    const life = lives[Math.floor(lives.length / 2)] ?? IDLE * 1000 + LINGER;
    const churn = Math.floor((MAX_DOCKS * WINDOW) / (life + 1000));
    t.diagnostic(
      `queue empty for ${WINDOW / 1000} s: ${idleStarts.length} pilot starts, each living ${(life / 1000).toFixed(1)} s ` +
        `(median; churning would be about ${churn} starts); ` +
        `start times (s after the last result): ${idleStarts.map((e) => ((e.at - tLast) / 1000).toFixed(1)).join(' ')}`,
    );
    assert.ok(
      idleStarts.length < (churn * 2) / 3,
      `starts stay bounded on an empty queue: ${idleStarts.length} starts, churning ${churn}`,
    );
    const third = WINDOW / 3;
    const early = idleStarts.filter((e) => e.at - tLast < third).length;
    const late = idleStarts.filter((e) => e.at - tLast >= 2 * third).length;
    assert.ok(
      late < early,
      `the start rate falls: ${early} starts in the first ${third / 1000} s, ${late} in the last`,
    );

    // Tasks added later are picked up by the next probe, within the backoff cap.
    const later = Array.from({ length: 5 }, (_, i) => task('b', i + 101));
    const tLater = Date.now();
    manager.submit(later);
    const doneLater = await manager.allDone(
      later.map((b) => b.tag),
      (BACKOFF.max + IDLE + 60) * 1000,
    );
    for (const [i, d] of doneLater.entries()) {
      assert.equal(d.result, 0);
      assert.equal(parse(d.output).digest, expected(i + 101), `late task ${d.tag} computed the right digest`);
    }
    const firstLater = Math.min(...doneLater.map((d) => d.at * 1000));
    t.diagnostic(
      `${later.length} tasks added after ${((tLater - tLast) / 1000).toFixed(0)} s idle: first result after ` +
        `${((firstLater - tLater) / 1000).toFixed(1)} s, all after ${((Math.max(...doneLater.map((d) => d.at * 1000)) - tLater) / 1000).toFixed(1)} s`,
    );

    const errors = daemon.log.split('\n').filter((l) => l.includes('"level":"error"'));
    assert.deepEqual(errors, [], 'the daemon logged no error');
  });

  it('a pilot stopped while a task runs lets the task finish and report it, then exits 0', async (t) => {
    assert.ok(events, 'runs after the batch test');
    manager.submit([{ tag: 'drain', command: 'sleep 6; echo drained; cat /proc/sys/kernel/hostname' }]);
    await waitFor(
      'a pilot running the task',
      async () => ((await manager.stats()).running > 0 ? true : undefined),
      120_000,
    );
    // Every running pilot of ours is stopped the way Plancton stops one: SIGTERM, then SIGKILL
    // after stop_timeout (15 s; the pilot keeps 5 s of it back and gives the task 10 s).
    const running = await docker(['ps', '-q', '--filter', `label=org.plancton.instance=${instance}`]);
    const ids = running.split('\n').filter(Boolean);
    const stopAt = Date.now();
    await Promise.all(ids.map((id) => docker(['stop', '-t', '15', id])));
    const drained = await manager.allDone(['drain'], 60_000);
    t.diagnostic(
      `stopped ${ids.length} pilot(s); the task came back after ${((drained[0]!.at * 1000 - stopAt) / 1000).toFixed(1)} s`,
    );
    assert.equal(drained[0]!.result, 0);
    const [word, host = ''] = drained[0]!.output.trim().split('\n');
    assert.equal(word, 'drained', 'the task finished in the stopped pilot');
    const runner = await waitFor(
      `the end of the pilot that ran the task (${host})`,
      () => events?.dies(stopAt).find((e) => host.endsWith(`-${e.pilotId}`)),
      30_000,
    );
    assert.equal(runner.exitCode, 0, 'the pilot that ran the task exited 0 ("done"), not 143 or 137');
  });
});
