/**
 * HTCondor pilots end to end, on the real engine and a real HTCondor pool (23.9, Debian trixie):
 * a central manager on a user-defined network of the test's own, and two built `plancton`
 * processes (two "hosts" of one pool: different instance_id and hostname, the same engine)
 * running config/htcondor.yaml unchanged, pointed at the pool through PLANCTON_<KEY> variables
 * (as compose/htcondor-demo.yml does). One pool run serves every assertion, in order:
 *
 *   1. condor_status shows one partitionable slot per running pilot, with exactly the CPUs and
 *      memory Plancton granted; 20 jobs all complete with the right result file, on pilots of
 *      both instances;
 *   2. with the queue empty the pilots leave within STARTD_NOCLAIM_SHUTDOWN and Plancton backs
 *      off (starts bounded, well under churning); jobs submitted later are picked up again;
 *   3. both daemons restarted: each adopts its own running pilots and none of the other's;
 *   4. the owner takes host A back (`plancton force-stop`) while two jobs run there: the one
 *      that fits in stop_timeout finishes (peaceful shutdown), the other is vacated, requeued by
 *      HTCondor, and completes on a pilot of host B.
 *
 * Figures (jobs/s, pilot starts per job, seconds from a pilot's start to its first job,
 * CPU-seconds lost to vacates) are printed, never asserted. Pilot starts and ends come from the
 * engine's event stream, job facts from HTCondor: nothing checked comes from Plancton itself.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { DaemonProcess, logRecords } from '../support/daemon.ts';
import { docker, randomInstance, removeByLabel, waitFor } from '../support/docker.ts';
import {
  HTCONDOR_IMAGE,
  Pool,
  ROOT,
  buildHTCondorImage,
  pilotOfSlot,
  requireHTCondor,
  type JobAd,
} from '../support/htcondor.ts';
import { PilotEvents } from '../support/pilot-images.ts';

const skip = await requireHTCondor();

/** Seconds a pilot stays unclaimed before it leaves (1200 in config/htcondor.yaml; short here). */
const IDLE = 20;
/** The startd checks its idle time every IDLE / 4 s (at least 5): the pilot leaves that much late at most. */
const IDLE_CHECK = 5;
/** The idle time of host A's pilots in the last case, whose jobs are pinned to them (config/htcondor.yaml's own). */
const OWNER_IDLE = 1200;
/** The file a gated job waits for in its pilot before its work (batch's `gate`); the test makes it. */
const GATE = '/run/plancton-go';
const VACATE = 5;
/** stop_timeout: running jobs get 25 - VACATE - 5 (the pilot's margin) = 15 s after the stop signal. */
const STOP_TIMEOUT = 25;
const RETIRE = STOP_TIMEOUT - VACATE - 5;
const MAX_DOCKS = 2;
const MEMORY_BYTES = 512 * 1024 * 1024;
const BACKOFF = { base: 10, max: 40 };
const CONFIG = readFileSync(resolve(ROOT, 'config/htcondor.yaml'), 'utf8');

const expected = (n: number): string => createHash('sha256').update(`plancton-${n}`).digest('hex');

/**
 * A cluster of `n` jobs, each writing result.txt (its digest and its pilot's host name), sent back
 * as result.<cluster tag>.<proc>.txt, then sleeping `seconds`; gated, only once GATE exists in its
 * pilot (the test makes it there with `docker exec`).
 */
function batch(tag: string, n: number, seconds: number, extra: readonly string[] = [], gated = false): string {
  const wait = gated ? `while [ ! -e ${GATE} ]; do sleep 1; done; ` : '';
  return (
    [
      'executable = /bin/sh',
      `arguments = "-c 'printf plancton-%s $(Process) | sha256sum > result.txt; cat /proc/sys/kernel/hostname >> result.txt; ${wait}sleep ${seconds}'"`,
      'transfer_output_files = result.txt',
      `transfer_output_remaps = "result.txt = result.${tag}.$(Process).txt"`,
      `output = ${tag}.$(Process).out`,
      `error = ${tag}.$(Process).err`,
      `log = ${tag}.log`,
      'should_transfer_files = YES',
      'when_to_transfer_output = ON_EXIT',
      'request_cpus = 1',
      'request_memory = 64M',
      ...extra,
      `queue ${n}`,
    ].join('\n') + '\n'
  );
}

/**
 * A gated job pinned, through its PlanctonTarget (editable later with condor_qedit), to the pilots
 * of one Plancton host (the slot ad's PLANCTON_HOST) or to one pilot (its PLANCTON_PILOT_ID).
 */
function pinned(tag: string, target: string, seconds: number): string {
  return batch(
    tag,
    1,
    seconds,
    [
      `+PlanctonTarget = "${target}"`,
      'requirements = TARGET.PLANCTON_HOST =?= MY.PlanctonTarget || TARGET.PLANCTON_PILOT_ID =?= MY.PlanctonTarget',
    ],
    true,
  );
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

describe('HTCondor pilots in a real pool', { skip, timeout: 25 * 60_000 }, () => {
  const run = randomInstance();
  const pool = new Pool(`plancton-${run}`, run);
  const hosts = { a: `${run}-host-a`, b: `${run}-host-b` } as const;
  const instances = { a: `${run}-a`, b: `${run}-b` } as const;
  const daemons: Partial<Record<'a' | 'b', DaemonProcess>> = {};
  const events: Partial<Record<'a' | 'b', PilotEvents>> = {};
  let jobsRun = 0;

  /** config/htcondor.yaml as it is, with the site's values (and quick test timings) from the environment. */
  function envFor(key: 'a' | 'b', idle = IDLE): Record<string, string> {
    return {
      PLANCTON_INSTANCE_ID: instances[key],
      PLANCTON_HOSTNAME: hosts[key],
      PLANCTON_DOCKER_IMAGE: HTCONDOR_IMAGE,
      PLANCTON_DOCKER_NETWORK: pool.network,
      PLANCTON_DOCKER_ENV: JSON.stringify([
        `CONDOR_HOST=${pool.host}`,
        `HTCONDOR_IDLE_TIMEOUT=${idle}`,
        `HTCONDOR_VACATE_TIME=${VACATE}`,
        'HTCONDOR_DEADLINE_MARGIN=60',
      ]),
      PLANCTON_BINDS: JSON.stringify([`${pool.tokenDir}:/etc/condor/tokens-orig.d:ro`]),
      PLANCTON_MAX_DOCKS: String(MAX_DOCKS),
      PLANCTON_CPUS_PER_DOCK: '1',
      PLANCTON_MAX_DOCK_MEM: String(MEMORY_BYTES),
      PLANCTON_STOP_TIMEOUT: String(STOP_TIMEOUT),
      PLANCTON_BACKOFF_BASE: String(BACKOFF.base),
      PLANCTON_BACKOFF_MAX: String(BACKOFF.max),
      PLANCTON_MAIN_SLEEP: '1',
      PLANCTON_UPDATECONFIG: '5',
      // the test's own load (and whatever else this machine runs) must not make Plancton give
      // the CPU back, hold pilots or freeze them for the disk (seen: a pilot paused for the I/O
      // of other tests, and an error logged when the freeze failed): the owner's turn is
      // force-stop, below
      PLANCTON_GRACE_KILL: '600',
      PLANCTON_GRACE_SPAWN: '0',
      PLANCTON_PAUSE_MAX: '0',
      PLANCTON_OVERLOAD_MARGIN: '100',
      PLANCTON_IO_MECHANISM: 'off',
      PLANCTON_LOG_LEVEL: 'debug',
    };
  }

  function startDaemon(key: 'a' | 'b', dir?: string, idle = IDLE): DaemonProcess {
    const d = new DaemonProcess(CONFIG, dir).start(envFor(key, idle));
    daemons[key] = d;
    return d;
  }

  const running = async (key: 'a' | 'b'): Promise<string[]> => {
    const out = await docker([
      'ps',
      '-q',
      '--no-trunc',
      '--filter',
      `label=org.plancton.instance=${instances[key]}`,
      '--filter',
      'status=running',
    ]);
    return out === '' ? [] : out.split('\n').sort();
  };
  const pilotIdsOf = async (key: 'a' | 'b'): Promise<Map<string, string>> => {
    const out = await docker([
      'ps',
      '-a',
      '--no-trunc',
      '--filter',
      `label=org.plancton.instance=${instances[key]}`,
      '--format',
      '{{.ID}} {{.Label "org.plancton.pilot-id"}}',
    ]);
    return new Map(out === '' ? [] : out.split('\n').map((l) => l.split(' ') as [string, string]));
  };
  const ownerOf = (pilotId: string): 'a' | 'b' | undefined =>
    (['a', 'b'] as const).find((k) => events[k]?.starts().some((e) => e.pilotId === pilotId));
  /** The container of host `key`'s pilot `pilotId`. */
  const containerOf = async (key: 'a' | 'b', pilotId: string): Promise<string> => {
    const id = [...(await pilotIdsOf(key))].find(([, p]) => p === pilotId)?.[0];
    assert.ok(id, `host ${key} has a pilot ${pilotId}`);
    return id;
  };
  /** Lets the gated job in pilot `pilotId` of host `key` do its work. */
  const openGate = async (key: 'a' | 'b', pilotId: string): Promise<void> => {
    await docker(['exec', await containerOf(key, pilotId), 'touch', GATE]);
  };

  before(async () => {
    await buildHTCondorImage();
    await pool.start();
    events.a = new PilotEvents(instances.a);
    events.b = new PilotEvents(instances.b);
    await delay(500); // the event streams are attached before the first pilot can start
  });

  after(async () => {
    await daemons.a?.cleanup();
    await daemons.b?.cleanup();
    await events.a?.stop();
    await events.b?.stop();
    await removeByLabel(`org.plancton.instance=${instances.a}`);
    await removeByLabel(`org.plancton.instance=${instances.b}`);
    await pool.stop();
  });

  it('pilots of two hosts join the pool with the granted slot, run 20 jobs right, leave when idle, back off, and come back for later jobs', async (t) => {
    const cluster = await pool.submit('batch.sub', batch('batch', 20, 3));
    const t0 = Date.now();
    startDaemon('a');
    startDaemon('b');

    // One partitionable slot per running pilot, sized by the contract: 1 CPU, 512 MB. Looked
    // at once every running pilot has advertised its slot and both hosts have one (how many run
    // at that moment depends on how busy this machine is: not asserted).
    const slots = await waitFor(
      'a partitionable slot for every running pilot, of both hosts',
      async () => {
        const ids = new Map([...(await pilotIdsOf('a')), ...(await pilotIdsOf('b'))]);
        const live = {
          a: (await running('a')).map((id) => ids.get(id) ?? ''),
          b: (await running('b')).map((id) => ids.get(id) ?? ''),
        };
        const ads = (await pool.slots()).filter((s) => s['SlotType'] === 'Partitionable');
        const seen = ads.map((s) => String(s['PLANCTON_PILOT_ID']));
        const all = [...live.a, ...live.b];
        return live.a.length > 0 && live.b.length > 0 && all.every((p) => seen.includes(p))
          ? ads.filter((s) => all.includes(String(s['PLANCTON_PILOT_ID'])))
          : undefined;
      },
      240_000,
      1000,
    ).catch(async (err: unknown) => {
      const ends = [...events.a!.dies(), ...events.b!.dies()].map((e) => `${e.pilotId}:${e.exitCode}`).join(' ');
      throw new Error(
        `${(err as Error).message}\nslots: ${JSON.stringify(await pool.slots())}\npilot ends: ${ends}\ndaemon A log tail:\n${daemons.a?.log.slice(-3000)}`,
      );
    });
    const full = await pool.exec(
      [
        'condor_status',
        '-json',
        '-attributes',
        'Name,TotalSlotCpus,TotalSlotMemory,PLANCTON_PILOT_ID,PLANCTON_HOST,SlotType',
        '-constraint',
        'SlotType == "Partitionable"',
      ],
      'root',
    );
    const totals = JSON.parse(full.stdout || '[]') as JobAd[];
    for (const s of slots) {
      const pilot = String(s['PLANCTON_PILOT_ID']);
      const total = totals.find((x) => x['PLANCTON_PILOT_ID'] === pilot);
      assert.ok(total, `slot of pilot ${pilot} has its totals`);
      assert.equal(total['TotalSlotCpus'], 1, `pilot ${pilot}: the CPUs Plancton granted (cpus_per_dock 1)`);
      assert.equal(
        total['TotalSlotMemory'],
        MEMORY_BYTES / 1048576,
        `pilot ${pilot}: the memory Plancton granted, in MB`,
      );
      assert.equal(s['PLANCTON_HOST'], hosts[ownerOf(pilot) ?? 'a'], `pilot ${pilot} advertises its Plancton host`);
    }
    assert.equal(
      new Set(totals.map((x) => x['PLANCTON_PILOT_ID'])).size,
      totals.length,
      'one partitionable slot per pilot',
    );

    const done = await pool.completed(cluster, 20, 600_000);
    const tLast = Math.max(...done.map((j) => Number(j['CompletionDate']) * 1000));
    const ranOn = new Set<string>();
    for (const j of done) {
      const proc = Number(j['ProcId']);
      assert.equal(j['ExitCode'], 0, `job ${cluster}.${proc} exited 0`);
      const [digestLine = '', host = ''] = (await pool.run(['cat', `result.batch.${proc}.txt`])).split('\n');
      assert.equal(digestLine.split(/\s+/)[0], expected(proc), `job ${cluster}.${proc} wrote the right digest`);
      const pilot = host.split('-').at(-1) ?? '';
      assert.ok(ownerOf(pilot), `job ${cluster}.${proc} ran in one of our pilots (${host})`);
      ranOn.add(pilot);
    }
    jobsRun += done.length;
    const owners = new Set([...ranOn].map(ownerOf));
    assert.deepEqual([...owners].sort(), ['a', 'b'], 'the pilots of both hosts fed the pool');

    const starts = [...events.a!.starts(), ...events.b!.starts()].filter((e) => e.at <= tLast);
    const firstJob = new Map<string, number>();
    for (const j of done) {
      const pilot = pilotOfSlot(j['LastRemoteHost'] ?? j['RemoteHost']);
      const at = Number(j['JobCurrentStartDate'] ?? j['JobStartDate']) * 1000;
      if (!firstJob.has(pilot) || at < firstJob.get(pilot)!) firstJob.set(pilot, at);
    }
    const toFirst = [...firstJob].flatMap(([pilot, at]) => {
      const start = starts.find((e) => e.pilotId === pilot);
      return start ? [(at - start.at) / 1000] : [];
    });
    const seconds = (tLast - t0) / 1000;
    t.diagnostic(
      `20 jobs of 3 s on ${ranOn.size} pilots: ${seconds.toFixed(1)} s from Plancton's start to the last completion, ` +
        `${(20 / seconds).toFixed(2)} jobs/s, ${starts.length} pilot starts (${(starts.length / 20).toFixed(2)} per job), ` +
        `pilot start to its first job: median ${median(toFirst).toFixed(1)} s (${toFirst.map((s) => s.toFixed(1)).join(' ')})`,
    );

    // The queue is empty: every pilot leaves after IDLE s unclaimed, and Plancton backs off.
    const WINDOW = 90_000;
    await delay(tLast + WINDOW - Date.now());
    const all = [...events.a!.starts(), ...events.b!.starts()];
    const ended = new Map([...events.a!.dies(), ...events.b!.dies()].map((e) => [e.id, e]));
    for (const p of all.filter((e) => e.at <= tLast + WINDOW - (IDLE + IDLE_CHECK + 20) * 1000)) {
      const end = ended.get(p.id);
      assert.ok(end, `pilot ${p.pilotId} left once the queue was empty`);
      const idleSince = Math.max(p.at, tLast);
      assert.ok(
        end.at - idleSince < (IDLE + IDLE_CHECK + 15) * 1000,
        `pilot ${p.pilotId} left within STARTD_NOCLAIM_SHUTDOWN (${IDLE} s) and its check (after ${end.at - idleSince} ms idle)`,
      );
      assert.ok(end.exitCode === 0 || end.exitCode === 75, `pilot ${p.pilotId} exited 0 or 75, not ${end.exitCode}`);
    }
    const idleStarts = all.filter((e) => e.at > tLast);
    for (const p of idleStarts) {
      const end = ended.get(p.id);
      if (end) assert.equal(end.exitCode, 75, `pilot ${p.pilotId}, started on an empty queue, exited 75 ("no work")`);
    }
    // Churning would restart all 2 x MAX_DOCKS slots whenever a pilot idles out.
    const churn = Math.floor((2 * MAX_DOCKS * WINDOW) / ((IDLE + 2) * 1000));
    t.diagnostic(
      `queue empty for ${WINDOW / 1000} s: ${idleStarts.length} pilot starts (${((idleStarts.length * 60_000) / WINDOW).toFixed(1)} per minute; ` +
        `churning would be about ${churn}); start times (s after the last job): ${idleStarts.map((e) => ((e.at - tLast) / 1000).toFixed(0)).join(' ')}`,
    );
    assert.ok(
      idleStarts.length < (churn * 2) / 3,
      `starts stay bounded on an empty queue: ${idleStarts.length}, churning ${churn}`,
    );

    // Jobs submitted later are picked up by the next probe, within the backoff cap.
    const tLater = Date.now();
    const later = await pool.submit('later.sub', batch('later', 3, 3));
    const doneLater = await pool.completed(later, 3, (BACKOFF.max + IDLE + 120) * 1000);
    for (const j of doneLater) {
      assert.equal(j['ExitCode'], 0);
      const [digestLine = ''] = (await pool.run(['cat', `result.later.${Number(j['ProcId'])}.txt`])).split('\n');
      assert.equal(digestLine.split(/\s+/)[0], expected(Number(j['ProcId'])), 'a later job wrote the right digest');
    }
    jobsRun += doneLater.length;
    t.diagnostic(
      `3 jobs submitted after ${((tLater - tLast) / 1000).toFixed(0)} s idle: all done after ` +
        `${((Math.max(...doneLater.map((j) => Number(j['CompletionDate']) * 1000)) - tLater) / 1000).toFixed(1)} s`,
    );
  });

  it("restarted, each Plancton adopts its own running pilots and none of the other host's", async () => {
    // jobs long enough that their pilots run through the restart
    const cluster = await pool.submit('adopt.sub', batch('adopt', 2, 40));
    await waitFor(
      'both jobs running',
      async () => ((await pool.jobs(cluster)).filter((j) => j['JobStatus'] === 2).length === 2 ? true : undefined),
      240_000,
      2000,
    );
    const before = { a: await running('a'), b: await running('b') };
    assert.ok(before.a.length + before.b.length >= 2, 'pilots run the jobs');
    const dirs = { a: daemons.a!.dir, b: daemons.b!.dir };
    await Promise.all([daemons.a!.kill('SIGTERM'), daemons.b!.kill('SIGTERM')]);
    const kept = { a: await running('a'), b: await running('b') };
    for (const k of ['a', 'b'] as const) {
      assert.ok(
        before[k].filter((id) => kept[k].includes(id)).length >= before[k].length - 1,
        `host ${k}'s pilots kept running (on_stop keep)`,
      );
    }
    startDaemon('a', dirs.a);
    startDaemon('b', dirs.b);
    for (const k of ['a', 'b'] as const) {
      const other = k === 'a' ? 'b' : 'a';
      const d = daemons[k]!;
      const adopted = await waitFor(
        `host ${k}'s daemon to report its pilots`,
        async () => {
          const s = d.status();
          if (s === undefined || s.pid !== d.proc?.pid) return undefined;
          const ids = s.pilots.map((p) => p.id).sort();
          const live = await running(k);
          return live.every((id) => ids.includes(id)) ? ids : undefined;
        },
        60_000,
        500,
      );
      const mine = await pilotIdsOf(k);
      const theirs = await pilotIdsOf(other);
      assert.ok(
        adopted.every((id) => mine.has(id)),
        `host ${k} reports only its own pilots`,
      );
      assert.ok(
        adopted.every((id) => !theirs.has(id)),
        `host ${k} adopted none of host ${other}'s pilots`,
      );
      for (const id of kept[k]) {
        if ((await running(k)).includes(id))
          assert.ok(adopted.includes(id), `host ${k} adopted its running pilot ${id.slice(0, 12)}`);
      }
    }
    const starts = [...events.a!.starts(), ...events.b!.starts()].filter(
      (e) => kept.a.includes(e.id) || kept.b.includes(e.id),
    );
    assert.equal(starts.length, kept.a.length + kept.b.length, 'no kept pilot was restarted');
    const done = await pool.completed(cluster, 2, 300_000);
    assert.ok(
      done.every((j) => j['ExitCode'] === 0 && j['NumJobStarts'] === 1),
      'the jobs ran through the restart, once each',
    );
    jobsRun += done.length;
  });

  it('the owner takes host A back mid-job: a job that fits stop_timeout finishes, the other is requeued and completes on host B', async (t) => {
    // When the owner takes host A back, each of its two pilots must be running one of the two
    // jobs. Each step below waits on a fact (the engine's pilots and signals, HTCondor's slots and
    // job states), none on a guess about timing, negotiation cycles or backoff:
    //  - Host A may be backing off after the last case (its probes found no work when the
    //    negotiator placed both jobs on host B), one probe pilot at a time. A daemon starts out of
    //    backoff: host A's is restarted without its pilots, and starts both at once.
    //  - Those pilots are removed with SIGKILL: their startds never withdraw their slot ads, which
    //    the collector keeps, Unclaimed, for CLASSAD_LIFETIME (900 s). Seen (SchedLog,
    //    NegotiatorLog): waiting for any two unclaimed slots of host A was met by the two stale
    //    ones before the new pilots advertised; the negotiator matched both jobs to them (the
    //    claims failed: "CCB server rejecting request ... no daemon is currently registered"),
    //    ten seconds later one to a new pilot and one to a stale slot again; the other new pilot
    //    left unclaimed after its IDLE s, and the second job ran after the first, on the same
    //    claim: never both at once, the wait for them timed out. So the slots waited for are those
    //    of pilots the engine runs now, and each job is pinned to one of them (PlanctonTarget = its
    //    PLANCTON_PILOT_ID): no stale slot matches, and no job can follow the other on one claim.
    //  - A pinned job waits for its pilot, which must not leave unclaimed before the negotiator
    //    gets to it: host A's pilots get OWNER_IDLE s, more than this whole case lasts.
    //  - Neither job can end before the stop reaches its pilot, however long the other took to
    //    start: each waits for its gate, which the test opens once the engine has sent that pilot
    //    its stop signal. The short job then has SHORT s of work left, within the RETIRE s its
    //    pilot grants running jobs; the long one LONG s, more than RETIRE + VACATE.
    const SHORT = RETIRE - 10;
    const LONG = 45;
    const dirA = daemons.a!.dir;
    await daemons.a!.kill('SIGTERM');
    await removeByLabel(`org.plancton.instance=${instances.a}`);
    startDaemon('a', dirA, OWNER_IDLE);
    const [shortPilot = '', longPilot = ''] = await waitFor(
      'two unclaimed slots of running pilots of host A',
      async () => {
        const ids = await pilotIdsOf('a');
        const live = (await running('a')).map((id) => ids.get(id) ?? '');
        const free = (await pool.slots()).filter(
          (s) =>
            s['PLANCTON_HOST'] === hosts.a &&
            live.includes(String(s['PLANCTON_PILOT_ID'])) &&
            s['SlotType'] === 'Partitionable' &&
            s['State'] === 'Unclaimed' &&
            s['Cpus'] === 1,
        );
        return free.length >= 2 ? free.map((s) => String(s['PLANCTON_PILOT_ID'])) : undefined;
      },
      300_000,
      1000,
    );
    await pool.write('short.sub', pinned('short', shortPilot, SHORT));
    await pool.write('long.sub', pinned('long', longPilot, LONG));
    const [short = NaN, long = NaN] = (
      await pool.run(['sh', '-c', 'condor_submit -terse short.sub && condor_submit -terse long.sub'])
    )
      .split('\n')
      .map((l) => Number(/^(\d+)\./.exec(l)?.[1]));
    assert.ok(Number.isInteger(short) && Number.isInteger(long), 'both jobs submitted');
    const runsOn = (j: JobAd | undefined, pilot: string): boolean =>
      j?.['JobStatus'] === 2 && pilotOfSlot(j['RemoteHost']) === pilot;
    await waitFor(
      'each job running on its own pilot of host A',
      async () => {
        const [s] = await pool.jobs(short);
        const [l] = await pool.jobs(long);
        return runsOn(s, shortPilot) && runsOn(l, longPilot) ? true : undefined;
      },
      300_000,
      1000,
    ).catch(async (err: unknown) => {
      throw new Error(
        `${(err as Error).message} (short on ${shortPilot}, long on ${longPilot}): ${JSON.stringify([...(await pool.jobs(short)), ...(await pool.jobs(long))])}`,
      );
    });
    const containers = { short: await containerOf('a', shortPilot), long: await containerOf('a', longPilot) };
    const tStop = Date.now();
    // each gate opens at its own pilot's signal, whether Plancton stops the two at once or in turn
    const openAtStop = async (pilot: string, container: string): Promise<{ signal: number; open: number }> => {
      const signal = await waitFor(
        `the owner's stop signal at pilot ${pilot}`,
        () => events.a!.kills(tStop).find((e) => e.id === container && e.signal === 15),
        120_000,
        100,
      );
      await openGate('a', pilot);
      return { signal: signal.at, open: Date.now() };
    };
    const [r, shortGate, longGate] = await Promise.all([
      daemons.a!.cli('force-stop', '--timeout', '120'),
      openAtStop(shortPilot, containers.short),
      openAtStop(longPilot, containers.long),
    ]);
    assert.equal(r.exitCode, 0, `force-stop: ${r.stdout} ${r.stderr}`);
    await daemons.a!.exited();
    assert.deepEqual(await running('a'), [], 'host A is given back: none of its pilots runs');
    const aEnds = events.a!.dies(tStop);
    t.diagnostic(
      `force-stop of host A: the stop signal reached the short and long jobs' pilots after ` +
        `${((shortGate.signal - tStop) / 1000).toFixed(1)} and ${((longGate.signal - tStop) / 1000).toFixed(1)} s, their gates opened after ` +
        `${((shortGate.open - tStop) / 1000).toFixed(1)} and ${((longGate.open - tStop) / 1000).toFixed(1)} s; its ${aEnds.length} pilot(s) ended after ${aEnds.map((e) => ((e.at - tStop) / 1000).toFixed(1)).join(' ')} s, exit codes ${aEnds.map((e) => e.exitCode).join(' ')}`,
    );
    assert.ok(
      aEnds.every((e) => e.exitCode === 0),
      'the pilots that ran jobs exited 0, before the SIGKILL',
    );

    const [shortAd] = await pool.completed(short, 1, 60_000);
    assert.equal(shortAd!['ExitCode'], 0, 'the job that fits in stop_timeout finished');
    assert.equal(shortAd!['NumJobStarts'], 1, '... in its first run (peaceful shutdown)');
    t.diagnostic(
      `the short job completed ${((Number(shortAd!['CompletionDate']) * 1000 - shortGate.signal) / 1000).toFixed(0)} s after its pilot's stop signal (${RETIRE} s allowed)`,
    );

    const requeued = await waitFor(
      'the long job back in the queue',
      async () => {
        const [j] = await pool.jobs(long);
        return j && j['JobStatus'] === 1 && Number(j['NumJobStarts']) >= 1 ? j : undefined;
      },
      60_000,
      1000,
    );
    assert.equal(requeued['NumJobStarts'], 1, 'vacated once');
    await pool.run(['condor_qedit', String(long), 'PlanctonTarget', `"${hosts.b}"`]);
    const pilotB = await waitFor(
      'the long job running on a pilot of host B',
      async () => {
        const [j] = await pool.jobs(long);
        const pilot = pilotOfSlot(j?.['RemoteHost']);
        return j?.['JobStatus'] === 2 && ownerOf(pilot) === 'b' ? pilot : undefined;
      },
      300_000,
      1000,
    );
    await openGate('b', pilotB);
    const [longAd] = await pool.completed(long, 1, 300_000);
    assert.equal(longAd!['ExitCode'], 0, 'the requeued job completed');
    const finalPilot = pilotOfSlot(longAd!['LastRemoteHost'] ?? longAd!['RemoteHost']);
    assert.equal(ownerOf(finalPilot), 'b', `it completed on host B's pilot ${finalPilot}, not on ${longPilot}`);
    const [digestLine = ''] = (await pool.run(['cat', 'result.long.0.txt'])).split('\n');
    assert.equal(digestLine.split(/\s+/)[0], expected(0), 'its result is right');
    const lastRun = Number(longAd!['CompletionDate']) - Number(longAd!['JobCurrentStartDate']);
    const lost = Number(longAd!['RemoteWallClockTime']) - lastRun;
    jobsRun += 2;
    const allStarts = events.a!.starts().length + events.b!.starts().length;
    t.diagnostic(
      `vacate: ${lost.toFixed(0)} CPU-seconds of job work lost (1 CPU, RemoteWallClockTime ${Number(longAd!['RemoteWallClockTime']).toFixed(0)} s, ` +
        `last run ${lastRun} s); over the whole run ${allStarts} pilot starts for ${jobsRun} jobs (${(allStarts / jobsRun).toFixed(2)} per job)`,
    );

    const errors = [daemons.a!, daemons.b!].flatMap((d) => logRecords(d.log).filter((l) => l['level'] === 'error'));
    assert.deepEqual(errors, [], 'the daemons logged no error');
  });
});
