/**
 * The pilot contract (docs/pilots.md) on the real engine, with busybox pilots that play a part:
 * one that never finds work (exit 75) must be started ever less often, exponentially up to the
 * cap, and a pilot that finds work again must end the backoff; one that traps SIGTERM must get
 * stop_timeout seconds before SIGKILL when Plancton removes it at max_ttl. Starts and ends are
 * read from the engine's event stream; which starts make one round (one pass) from the daemon's
 * log, whose iteration lines say how many pilots each pass started.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { DaemonProcess, passesIn, testConfig } from '../support/daemon.ts';
import { randomInstance, removeByLabel, requireEngine, waitFor } from '../support/docker.ts';
import { PilotEvents } from '../support/pilot-images.ts';

const skip = await requireEngine('busybox:latest');

/** The daemon's passes that started pilots, from its log: when each was logged and how many it started. */
function startPasses(log: string): Array<{ at: number; n: number }> {
  return passesIn<{ timestamp: string; started: number }>(log)
    .filter((p) => p.started > 0)
    .map((p) => ({ at: Date.parse(p.timestamp), n: p.started }));
}

describe('the pilot contract on the real engine', { skip, timeout: 10 * 60_000 }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  /** A daemon for one instance, its pilots' events followed from before its start. */
  async function run(
    instance: string,
    config: Record<string, unknown>,
  ): Promise<{ daemon: DaemonProcess; events: PilotEvents }> {
    const events = new PilotEvents(instance);
    await delay(500);
    // pause_max 0: the owner's CPU (this test's neighbours) never pauses a pilot here
    const daemon = new DaemonProcess(testConfig(instance, { pause_max: 0, ...config })).start();
    cleanups.push(async () => {
      await daemon.cleanup();
      await events.stop();
      await removeByLabel(`org.plancton.instance=${instance}`);
    });
    return { daemon, events };
  }

  it('a pilot that always exits 75 ("no work") is started ever less often, up to the cap; one that works ends the backoff', async (t) => {
    const instance = randomInstance();
    const base = 1;
    const max = 8;
    // more slots than docks_per_loop (4), so that filling them "at once" (not one probe at a time) shows
    const slots = 6;
    const noWork = {
      docker_cmd: ['sh', '-c', 'exit 75'],
      max_docks: slots,
      docks_per_loop: 4,
      backoff_base: base,
      backoff_max: max,
      no_work_uptime: 10,
    };
    const { daemon, events } = await run(instance, noWork);
    const WINDOW = 45_000;
    await waitFor('the first start', () => (events.starts().length > 0 ? true : undefined), 60_000);
    const t0 = events.starts()[0]!.at;
    await delay(t0 + WINDOW - Date.now());

    for (const d of events.dies()) assert.equal(d.exitCode, 75, 'every pilot exited 75');
    // a round is one pass that started pilots; its starts' engine events come before its log line
    const rs = startPasses(daemon.log).filter((r) => r.at < t0 + WINDOW);
    assert.ok(rs.length > 0);
    const starts = events.starts().filter((e) => e.at <= rs.at(-1)!.at);
    assert.equal(
      rs.reduce((n, r) => n + r.n, 0),
      starts.length,
      "the passes account for the engine's starts",
    );
    const gaps = rs.slice(1).map((r, i) => (r.at - rs[i]!.at) / 1000);
    t.diagnostic(
      `${starts.length} starts in ${WINDOW / 1000} s, in ${rs.length} rounds of ${rs.map((r) => r.n).join(', ')} ` +
        `pilots; gaps between rounds (s): ${gaps.map((g) => g.toFixed(1)).join(' ')}`,
    );

    // Each round's pilots end at once and raise the backoff level at least by one: before round
    // k + 1 the daemon waits at least half of min(max, base * 2^(k-1)) (the jitter keeps at
    // least half), measured from the pass that saw round k end, so at least that from the end of
    // round k's pass (when it is logged) to the end of round k + 1's.
    gaps.forEach((g, i) => {
      const least = 0.5 * Math.min(max, base * 2 ** i);
      assert.ok(g >= least - 0.05, `gap ${i + 1} is ${g.toFixed(2)} s, less than the backoff's ${least} s`);
    });
    // ... and never much more than the cap: the daemon keeps probing (slack for passes, a start and an end on a loaded engine).
    for (const [i, g] of gaps.entries())
      assert.ok(g <= max + 6, `gap ${i + 1} is ${g.toFixed(2)} s, more than the cap ${max} s allows`);
    assert.ok(
      gaps.slice(-3).every((g) => g >= max / 2 - 0.05),
      'the last gaps are at the cap',
    );
    // How many rounds the law allows in the window at most (every wait at its shortest);
    // without backoff every pass (1 s) would start a round: about 45.
    let most = 1;
    for (let spent = 0; ; most++) {
      spent += 0.5 * Math.min(max, base * 2 ** (most - 1));
      if (spent * 1000 > WINDOW) break;
    }
    assert.ok(rs.length <= most, `${rs.length} rounds in ${WINDOW / 1000} s, the backoff allows ${most}`);
    // the first round fills the slots; every later one is a single probe
    assert.ok(starts.length <= slots + rs.length - 1, `${starts.length} starts in ${rs.length} rounds`);
    const half = starts.filter((s) => s.at >= t0 + WINDOW / 2).length;
    assert.ok(half < starts.length - half, 'fewer starts in the second half of the window than in the first');

    // A pilot that finds work (exit 0 after no_work_uptime seconds) ends the backoff: the
    // daemon fills its slots again at once.
    daemon.writeConfig(
      testConfig(instance, { ...noWork, docker_cmd: ['sh', '-c', 'sleep 3; exit 0'], no_work_uptime: 2 }),
    );
    const worked = await waitFor(
      'a pilot that exits 0',
      () => events.dies().find((d) => d.exitCode === 0),
      (max + 20) * 1000,
    );
    // "At once": a pass right after it (the engine's die event wakes the daemon) starts every free
    // slot. A backoff still probing starts at most one per pass, and a new one only once the last
    // probe has ended (these run 3 s).
    const free = Math.min(4, slots - events.aliveAt(worked.at));
    assert.ok(free >= 2, `${free} free slots: too few to tell a refill from a probe`);
    const refill = await waitFor(
      'a pass that starts the free slots',
      () => {
        const after = startPasses(daemon.log).filter((p) => p.at >= worked.at);
        const i = after.findIndex((p) => p.n >= free);
        return i >= 0 ? { i, pass: after[i]!, before: after.slice(0, i) } : undefined;
      },
      15_000,
    );
    t.diagnostic(
      `after the first pilot that worked: ${free} free slots; pass ${refill.i + 1} after it started ${refill.pass.n}, ` +
        `${((refill.pass.at - worked.at) / 1000).toFixed(1)} s later`,
    );
    // the pass in flight when the pilot ended may still have taken a probe
    assert.ok(
      refill.i <= 1 && refill.before.every((p) => p.n === 1),
      `the backoff ends at once: ${JSON.stringify(refill.before)} before the refill`,
    );
  });

  it('a pilot that traps SIGTERM gets stop_timeout seconds before SIGKILL when removed at max_ttl', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'plancton-term-'));
    cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
    // The handler writes when it got the signal, then needs `need` seconds to wind down.
    const pilot = (need: number): string[] => [
      'sh',
      '-c',
      [
        'f=/m/$PLANCTON_PILOT_ID',
        `trap 'echo "term $PLANCTON_STOP_TIMEOUT" > $f; sleep ${need}; echo done >> $f; exit 0' TERM`,
        'sleep 3600 & wait $!',
      ].join('; '),
    ];
    const cases = [
      { name: 'winds down within the grace', need: 2, stopTimeout: 6, exit: 0, done: true },
      { name: 'overruns the grace', need: 60, stopTimeout: 3, exit: 137, done: false },
    ];
    for (const c of cases) {
      const instance = randomInstance();
      const { daemon, events } = await run(instance, {
        docker_cmd: pilot(c.need),
        max_docks: 1,
        max_ttl: 3,
        stop_timeout: c.stopTimeout,
        binds: [`${dir}:/m`],
      });
      const end = await waitFor(`the end of the first pilot (${c.name})`, () => events.dies()[0], 60_000);
      await daemon.kill('SIGTERM');
      const marker = join(dir, end.pilotId);
      const text = readFileSync(marker, 'utf8');
      const lines = text.trim().split('\n');
      t.diagnostic(`${c.name}: exit ${end.exitCode}, marker ${JSON.stringify(lines)}`);
      assert.equal(
        lines[0],
        `term ${c.stopTimeout}`,
        'the pilot got SIGTERM, and PLANCTON_STOP_TIMEOUT said how long it had',
      );
      assert.equal(lines.includes('done'), c.done);
      assert.equal(end.exitCode, c.exit);
      if (!c.done) {
        // from the engine's own SIGTERM (the pilot, at idle priority, may write its marker late)
        const term = events.kills().find((k) => k.id === end.id && k.signal === 15);
        assert.ok(term, 'the engine sent the pilot SIGTERM');
        const grace = (end.at - term.at) / 1000;
        t.diagnostic(`${c.name}: SIGKILL ${grace.toFixed(1)} s after SIGTERM (stop_timeout ${c.stopTimeout})`);
        assert.ok(
          grace >= c.stopTimeout - 0.5,
          `SIGKILL came ${grace.toFixed(1)} s after SIGTERM, before stop_timeout ${c.stopTimeout}`,
        );
      }
    }
  });
});
