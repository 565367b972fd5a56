/**
 * I/O interference: how much pilots that write heavily slow the owner's disk use, and what
 * Plancton's I/O rule costs the pilots.
 *
 * Two owner workloads on the host's disk: `sync` - 4 KiB writes, each synced (dd oflag=dsync),
 * like database commits or an editor saving; `read` - a large file read with O_DIRECT in 16 KiB
 * requests (so the page cache does not answer it). Each runs alone (solo); next to `--pilots`
 * pilots managed by Plancton (every I/O key at its default, io_mechanism auto), each writing and
 * fsyncing 32 MiB files in a loop; and next to the same containers started by hand (unmanaged).
 * Conditions are interleaved in a rotating order, for every repetition. Pilots get cpus_per_dock
 * 0.2 in both pilot conditions (writing is mostly waiting on the disk; small pilots start on a
 * host other jobs keep busy), and the managed ones `pause_max: 0`, so that only the disk rule
 * pauses them.
 *
 * Reaction time: in the managed condition, the pilots' freezer state is polled every 5 ms from
 * the start of each owner workload; the time until every pilot is FROZEN is printed (the owner's
 * loss is about this time, whatever the mechanism after it).
 *
 * Pilots' throughput: in each pilot condition, before the owner starts, the pilots write for
 * `--window` s on a host where the owner is quiet; the files they completed are counted (each
 * pilot appends a line per 32 MiB file). Target: the managed pilots keep >= 80% of what the same
 * containers unmanaged write in the same window of the same repetition - the rule must not hold
 * them back while the owner does not need the disk (their own writeback, others' noise).
 *
 * The disk: `--disk root` (default) is the host's own disk, where the owner's files go to the
 * temporary directory and the pilots write to their own root file system; `--disk fresh` is a new
 * loop device with ext4, backed by tmpfs, that has never had a throttle rule (as every disk of a
 * freshly booted host: test/support/fresh-disk.ts), where the owner's files go and which the
 * pilots get as a bind mount; Plancton is pointed at it with io_devices. The header says which,
 * and whether the kernel counted per-cgroup I/O on it before the run.
 *
 *   node bench/io-interference.ts [--disk root|fresh] [--reps 5] [--pilots 2] [--sync-writes 1000] [--read-mib 384] [--window 8] [--cpus-per-dock 0.2] [--gap 5]
 */
import { execa } from 'execa';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchRun, f2, f3, options, sleep, table } from './common.ts';
import { median, MiB } from './host.ts';
import { docker } from '../test/support/docker.ts';
import { freezerState, writerCmd } from '../test/support/io-host.ts';
import { freshLoopDisk, throttleCounts, type FreshDisk } from '../test/support/fresh-disk.ts';

const opt = options({
  disk: 'root',
  reps: '5',
  pilots: '2',
  'sync-writes': '1000',
  'read-mib': '384',
  window: '8',
  'cpus-per-dock': '0.2',
  gap: '5',
});
const reps = Number(opt.reps);
const npilots = Number(opt.pilots);
const cpusPerDock = Number(opt['cpus-per-dock']);
const windowMs = Number(opt.window) * 1000;
const gapMs = Number(opt.gap) * 1000;
const FILE_MIB = 32;
if (opt.disk !== 'root' && opt.disk !== 'fresh') throw new Error(`--disk is root or fresh, not ${opt.disk}`);
/** The fresh disk (`--disk fresh`), made before the run; its files are the owner's and the pilots'. */
const fresh: FreshDisk | undefined =
  opt.disk === 'fresh' ? await freshLoopDisk(Number(opt['read-mib']) + 768, true) : undefined;
const countedBefore = fresh ? throttleCounts(fresh.dev) : throttleCounts('254:0');
const CMD = writerCmd(FILE_MIB, fresh ? '/data' : '');
/** What the pilots get to write on the fresh disk: a bind mount of it. */
const BIND = fresh?.mount ? [`${fresh.mount}:/data`] : [];

type Condition = 'solo' | 'plancton' | 'unmanaged';
const CONDITIONS: readonly Condition[] = ['solo', 'plancton', 'unmanaged'];
type Workload = 'sync' | 'read';

const run = new BenchRun(
  "I/O interference: the owner's synced writes and a large read next to pilots that write heavily",
);
const dir = join(fresh?.mount ?? tmpdir(), `plancton-bench-io-${run.id}`);
const syncFile = join(dir, 'sync.dat');
const bigFile = join(dir, 'big.dat');

async function timed(cmd: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await execa('sh', ['-c', cmd], { reject: false });
  if (r.exitCode !== 0) throw new Error(`owner workload failed: ${cmd}: ${String(r.stderr)}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const WORKLOADS: Record<Workload, () => Promise<number>> = {
  sync: async () => {
    const t = await timed(
      `dd if=/dev/zero of=${syncFile} bs=4k count=${Number(opt['sync-writes'])} oflag=dsync 2>/dev/null`,
    );
    rmSync(syncFile, { force: true });
    return t;
  },
  read: () => timed(`dd if=${bigFile} of=/dev/null bs=16k iflag=direct 2>/dev/null`),
};

/**
 * Polls the pilots' freezer state every 5 ms from now; `stop()` gives the ms until all of them
 * were FROZEN, or undefined when they were not before it was called.
 */
function frozenWatch(ids: readonly string[], parent: string): { stop: () => number | undefined } {
  const t0 = performance.now();
  let at: number | undefined;
  const timer = setInterval(() => {
    if (at === undefined && ids.every((id) => freezerState(id, parent) === 'FROZEN')) at = performance.now() - t0;
  }, 5);
  return {
    stop: () => {
      clearInterval(timer);
      return at;
    },
  };
}

/** Files the pilots completed so far (one line each in /w). */
async function filesDone(ids: readonly string[]): Promise<number> {
  const n = await Promise.all(
    ids.map(async (id) =>
      Number(await docker(['exec', id, 'sh', '-c', 'wc -l < /w 2>/dev/null || echo 0']).catch(() => '0')),
    ),
  );
  return n.reduce((a, b) => a + b, 0);
}

/** Pilots for one condition, writing; how to end them, their ids, and a note for the log. */
async function pilotsFor(c: Condition): Promise<{ ids: string[]; end: () => Promise<void>; note: () => string }> {
  if (c === 'solo') return { ids: [], end: () => Promise.resolve(), note: () => '' };
  if (c === 'unmanaged') {
    const ids = await run.rawContainers(
      npilots,
      ['--cpus', String(cpusPerDock), '-m', String(256 * MiB), ...BIND.flatMap((b) => ['-v', b])],
      CMD,
    );
    return { ids, end: () => run.removeRaw(), note: () => `${npilots} pilots` };
  }
  // pause_max 0: no pausing for the CPU (a loaded shared host would pause writers for the CPU
  // rule and blur what the disk rule does); the I/O keys are all at their defaults
  const settings = {
    max_docks: npilots,
    cpus_per_dock: cpusPerDock,
    docker_image: 'busybox',
    docker_cmd: CMD,
    max_dock_mem: 256 * MiB,
    cgroup_parent: run.cgroup,
    pause_max: 0,
    ...(fresh ? { io_devices: [fresh.name], binds: BIND } : {}),
  };
  let d = run.daemon(settings);
  for (let attempt = 1; ; attempt++) {
    try {
      await d.waitRunning(npilots, 35_000);
      break;
    } catch (err) {
      await d.stop();
      if (attempt >= 3) throw err;
      console.log(`  plancton: ${(err as Error).message}; trying again`);
      d = run.daemon(settings);
    }
  }
  const ids = (await d.running()).map((p) => p.id);
  return {
    ids,
    end: () => d.stop(),
    note: () => {
      const count = (e: string): number => d.process.log.split(`"event":"${e}"`).length - 1;
      const io = d.process.status()?.io;
      return `paused x${count('pilot-paused')}, resumed x${count('pilot-resumed')}, removed x${count('pilot-removed')}; disk: ${io?.mechanism ?? '?'}, counted on ${io?.metering?.counted.join(',') || 'nothing'}`;
    },
  };
}

/** Waits until no pilot of `ids` is paused (the owner's quiet time after a workload), at most 30 s. */
async function unpaused(ids: readonly string[]): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const states = await Promise.all(
      ids.map((id) => docker(['inspect', '-f', '{{.State.Paused}}', id]).catch(() => 'false')),
    );
    if (states.every((s) => s !== 'true')) return;
    await sleep(500);
  }
}

await run.main(async () => {
  if (fresh) run.defer(() => fresh.remove());
  await run.header({
    disk: fresh
      ? `fresh loop device ${fresh.name} (${fresh.dev}), ext4 on tmpfs`
      : 'the root disk (vda 254:0 on the project machine)',
    countedByTheKernelBeforeTheRun: countedBefore,
    reps,
    pilots: npilots,
    fileMiB: FILE_MIB,
    syncWrites: Number(opt['sync-writes']),
    readMiB: Number(opt['read-mib']),
    windowMs,
    gapMs,
    cpusPerDock,
  });
  await execa('mkdir', ['-p', dir]);
  run.defer(() => rmSync(dir, { recursive: true, force: true }));
  await execa('sh', [
    '-c',
    `dd if=/dev/urandom of=${bigFile} bs=1M count=${Number(opt['read-mib'])} 2>/dev/null && sync`,
  ]);
  const times: Record<Workload, Record<Condition, number[]>> = {
    sync: { solo: [], plancton: [], unmanaged: [] },
    read: { solo: [], plancton: [], unmanaged: [] },
  };
  const ratios: Record<Workload, Record<Condition, number[]>> = {
    sync: { solo: [], plancton: [], unmanaged: [] },
    read: { solo: [], plancton: [], unmanaged: [] },
  };
  const throughput: Record<'plancton' | 'unmanaged', number[]> = { plancton: [], unmanaged: [] };
  const pilotRatio: number[] = [];
  const frozenMs: Record<Workload, number[]> = { sync: [], read: [] };
  for (let r = 0; r < reps; r++) {
    const order = CONDITIONS.map((_, i) => CONDITIONS[(i + r) % CONDITIONS.length] as Condition);
    const rep: Partial<Record<Workload, Partial<Record<Condition, number>>>> = { sync: {}, read: {} };
    const repMiBs: Partial<Record<Condition, number>> = {};
    for (const c of order) {
      const pilots = await pilotsFor(c);
      try {
        if (c !== 'solo') {
          await sleep(2000); // the first files, and the daemon's first readings
          // a paused container cannot be exec'd into: count when none is paused (the wait counts in the window)
          await unpaused(pilots.ids);
          const before = await filesDone(pilots.ids);
          const t0 = Date.now();
          await sleep(windowMs);
          await unpaused(pilots.ids);
          const mibs = (((await filesDone(pilots.ids)) - before) * FILE_MIB) / ((Date.now() - t0) / 1000);
          repMiBs[c] = mibs;
          throughput[c].push(mibs);
        }
        const reaction: string[] = [];
        for (const w of ['sync', 'read'] as const) {
          const watch = c === 'plancton' ? frozenWatch(pilots.ids, run.cgroup) : undefined;
          const t = await WORKLOADS[w]();
          const ms = watch?.stop();
          if (watch) {
            reaction.push(`${w} frozen after ${ms === undefined ? 'never' : `${ms.toFixed(0)} ms`}`);
            frozenMs[w].push(ms ?? Infinity);
          }
          (rep[w] ??= {})[c] = t;
          times[w][c].push(t);
          // quiet time before the next workload: managed pilots are given the disk back
          if (c !== 'solo') {
            await sleep(gapMs);
            await unpaused(pilots.ids);
          }
        }
        console.log(
          `rep ${r + 1} ${c.padEnd(9)} sync ${f3(rep.sync?.[c] ?? NaN)} s  read ${f3(rep.read?.[c] ?? NaN)} s${repMiBs[c] === undefined ? '' : `  pilots (owner quiet) ${f2(repMiBs[c])} MiB/s`}  ${[...reaction, pilots.note()].filter(Boolean).join('; ')}`,
        );
      } finally {
        await pilots.end();
      }
    }
    for (const w of ['sync', 'read'] as const)
      for (const c of CONDITIONS) ratios[w][c].push((rep[w]?.[c] ?? NaN) / (rep[w]?.solo ?? NaN));
    pilotRatio.push((repMiBs.plancton ?? NaN) / (repMiBs.unmanaged ?? NaN));
  }
  console.log();
  const rows: Array<Array<string | number>> = [];
  for (const w of ['sync', 'read'] as const) {
    for (const c of CONDITIONS)
      rows.push([w, c, times[w][c].map(f2).join(' '), f3(median(times[w][c])), f3(median(ratios[w][c]))]);
  }
  table(['workload', 'condition', 'times (s)', 'median (s)', 'median of per-rep ratios to solo'], rows);
  console.log();
  table(
    ['pilots', 'MiB/s while the owner is quiet (per rep)', 'median'],
    (['plancton', 'unmanaged'] as const).map((c) => [c, throughput[c].map(f2).join(' '), f2(median(throughput[c]))]),
  );
  console.log();
  for (const w of ['sync', 'read'] as const)
    console.log(
      `managed, ${w}: every pilot frozen after ${frozenMs[w].map((x) => (Number.isFinite(x) ? x.toFixed(0) : 'never')).join(' ')} ms (median ${f2(median(frozenMs[w]))})`,
    );
  const sync = median(ratios.sync.plancton);
  const read = median(ratios.read.plancton);
  const keep = median(pilotRatio);
  console.log(
    `\nRATIO owner sync plancton/solo = ${f3(sync)}, read plancton/solo = ${f3(read)} (target <= 1.10: ${sync <= 1.1 && read <= 1.1 ? 'met' : 'MISSED'}); unmanaged: sync ${f3(median(ratios.sync.unmanaged))}, read ${f3(median(ratios.read.unmanaged))}`,
  );
  console.log(
    `RATIO pilots' throughput, managed / unmanaged, owner quiet = ${f3(keep)} (target >= 0.80: ${keep >= 0.8 ? 'met' : 'MISSED'})`,
  );
});
