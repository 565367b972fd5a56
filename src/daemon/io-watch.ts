/**
 * The disk between passes: while there are pilots and a mechanism to cut their I/O back with,
 * measures the owner's I/O four times a second (ten while the pilots write heavily), wakes the loop at once when the owner starts using the disk, and hands each
 * pass the busiest reading since the last one. The pure rule (core/rules/io.ts, called by
 * decide) does the deciding.
 */
import type { IoMechanism, IoOutcome, IoPolicy, IoReading } from '../core/rules/io.ts';
import { IO_POLL_MS, ioPollMs, ownerUsesDisk } from '../core/rules/io.ts';
import type { Settings } from '../config/schema/keys.ts';
import type { Pilot } from '../core/decision.ts';
import type { IoStatus } from '../report/status.ts';
import { IoMeter } from '../host/io-meter.ts';
import { detectIoMechanism, type IoMechanismWanted, type IoSetup } from '../host/io-mechanism.ts';
import { IoThrottle } from '../host/io-throttle.ts';
import { IoAccounting, type IoMetering } from '../host/io-accounting.ts';

/** How often the disks are read between passes while the pilots write little (ms); see ioPollMs. */
export const IO_WATCH_MS = IO_POLL_MS;

/** Over how long each pilot's writes are measured when the owner is on the disk (ms). */
const WRITERS_WINDOW_MS = 100;

/**
 * The owner's rate is the median of this many readings: measured on the shared build host,
 * single quarter-second readings jumped to 400-1200 requests/s every several seconds (other
 * containers starting, journal commits) between readings of 0-100; a median of three needs
 * the owner on the disk for two readings in a row (half a second) and ignores one burst.
 */
export const IO_MEDIAN_OF = 3;

/** The middle value; of an even count, the lower middle (a burst needs a majority). */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? 0;
}

/** The I/O rule's numbers from the settings and the mechanism detected at start. */
export function ioPolicy(s: Settings, mechanism: IoMechanism): IoPolicy {
  return {
    mechanism,
    ownerIops: s.io_owner_iops,
    psiPct: s.io_psi,
    quietMs: s.io_quiet * 1000,
    pilotWriteBps: s.io_pilot_writes,
  };
}

export class IoWatch {
  readonly setup: IoSetup;
  readonly #meter: IoMeter;
  readonly #accounting: IoAccounting;
  readonly #throttle: IoThrottle | undefined;
  /** The disks (`major:minor`, sorted) whose counting was last made sure of. */
  #ensuredFor = '';
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #pilots: readonly string[] = [];
  #running: readonly string[] = [];
  /** The reading with the most owner I/O since the last pass took one. */
  #peak: IoReading | undefined;
  /** The last IO_MEDIAN_OF raw readings. */
  #recent: IoReading[] = [];
  #last: IoReading | undefined;
  #error: string | undefined;

  constructor(setup: IoSetup, meter: IoMeter, accounting: IoAccounting, throttle?: IoThrottle) {
    this.setup = setup;
    this.#meter = meter;
    this.#accounting = accounting;
    this.#throttle = throttle;
  }

  /**
   * The mechanism the I/O rule acts with: the one detected at start, or `none` while the kernel
   * counts no cgroup's I/O on any metered disk (the rule would only ever see a quiet owner).
   */
  get mechanism(): IoMechanism {
    return this.#accounting.blind ? 'none' : this.setup.mechanism;
  }

  /** How the pilots' I/O is metered, and where it cannot be seen. */
  get metering(): IoMetering {
    return this.#accounting.metering;
  }

  /**
   * Makes sure the kernel counts every cgroup's I/O on the meter's disks: at start, and again when
   * the disks change (a disk that appears later is switched on at the reading that finds it).
   */
  async ensureCounted(): Promise<void> {
    const key = [...this.#meter.devices.keys()].sort().join(',');
    if (key === this.#ensuredFor) return;
    await this.#accounting.ensure(this.#meter.devices);
    this.#ensuredFor = key;
  }

  /**
   * Starts reading, every ioPollMs after the last reading ended; `wake` is called when a reading
   * says the owner uses the disk and the last decision (`ownerBusy()`) did not think so yet, or a
   * pilot still writes to be paused.
   */
  start(policy: () => IoPolicy, wake: () => void, ownerBusy: () => boolean): void {
    // nothing to cut back with: the disks are not read at all (status says why)
    if (this.setup.mechanism === 'none') return;
    const next = (): void => {
      if (this.#closed) return;
      this.#timer = setTimeout(
        () => {
          void this.#read(policy(), wake, ownerBusy)
            .catch((err: unknown) => {
              this.#error = `cannot read the disks: ${(err as Error).message}`;
            })
            .finally(next);
        },
        ioPollMs(this.#last, policy()),
      );
      this.#timer.unref();
    };
    next();
  }

  async #read(p: IoPolicy, wake: () => void, ownerBusy: () => boolean): Promise<void> {
    if (this.#pilots.length === 0) {
      // no pilot to cut back: no reading (a daemon with no pilot reads no disk figures); the next
      // pilots' first reading is a new baseline, since the set of pilots changed
      [this.#recent, this.#last] = [[], undefined];
      return;
    }
    const reading = await this.#meter.measure(this.#pilots, Date.now());
    await this.ensureCounted();
    this.#error = undefined;
    if (!reading) return;
    this.#recent = [...this.#recent, reading].slice(-IO_MEDIAN_OF);
    let r: IoReading = {
      ...reading,
      ownerIops: median(this.#recent.map((x) => x.ownerIops)),
      ownerBps: median(this.#recent.map((x) => x.ownerBps)),
      // v1 charges a pilot's writes at its fsync: they come in bursts, so the most of the last few
      pilotsWriteBps: Math.max(...this.#recent.map((x) => x.pilotsWriteBps ?? 0)),
    };
    // which pilot writes how much is read only when it matters: the owner is on the disk
    if (p.mechanism === 'pause' && this.#running.length > 0 && (ownerUsesDisk(r, p) || ownerBusy())) {
      r = { ...r, pilotWriteBps: await this.#meter.writers(this.#running, WRITERS_WINDOW_MS) };
    }
    this.#last = r;
    // the pass gets the reading that says most about the owner: busy before quiet, then the most I/O
    const peak = this.#peak;
    const busier =
      !peak ||
      (ownerUsesDisk(r, p) && !ownerUsesDisk(peak, p)) ||
      (ownerUsesDisk(r, p) === ownerUsesDisk(peak, p) && r.ownerIops > peak.ownerIops);
    this.#peak = busier ? r : { ...peak, pilotWriteBps: r.pilotWriteBps };
    const writers = p.mechanism === 'pause' && [...r.pilotWriteBps.values()].some((bps) => bps >= p.pilotWriteBps);
    if (ownerUsesDisk(r, p) && (!ownerBusy() || writers)) wake();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** The pass's reading (the busiest since the last pass, the pilots' writes of the latest), and the pilots to measure from now on. */
  take(pilots: readonly Pilot[]): IoReading | undefined {
    this.#pilots = pilots.filter((p) => p.state === 'running' || p.state === 'paused').map((p) => p.id);
    this.#running = pilots.filter((p) => p.state === 'running').map((p) => p.id);
    const r = this.#peak;
    this.#peak = undefined;
    return r;
  }

  /** Applies the throttle of a decision (the other mechanisms act through the engine or at start). */
  async apply(outcome: IoOutcome | undefined, pilots: readonly Pilot[]): Promise<string[]> {
    if (!this.#throttle || outcome === undefined) return [];
    const running = pilots.filter((p) => p.state === 'running' || p.state === 'paused').map((p) => p.id);
    return this.#throttle.apply(
      outcome.limit,
      this.#meter.ioDirs(running),
      [...this.#meter.devices.keys()],
      this.#meter.parentDir,
    );
  }

  status(outcome: IoOutcome | undefined, pilots: readonly Pilot[]): IoStatus {
    const held = new Set(outcome?.state.paused ?? []);
    return {
      mechanism: this.setup.mechanism,
      detail: this.setup.detail,
      metering: this.metering,
      ownerBusy: outcome?.ownerBusy ?? false,
      ownerIops: this.#last?.ownerIops,
      ownerBps: this.#last?.ownerBps,
      paused: pilots.filter((p) => held.has(p.id) && p.state === 'paused').map((p) => p.name),
      limited: this.#throttle?.limited ?? [],
      error: this.#error,
    };
  }
}

/**
 * The watch for this host: detects the mechanism (writing the weight where that is the one), and
 * sets up the meter and, for `throttle`, the limits. `parent` is the pilots' parent cgroup, one
 * directory name (undefined: none).
 */
export async function createIoWatch(
  s: Settings,
  cgroupVersion: '1' | '2',
  parent: string | undefined,
): Promise<IoWatch> {
  const meter = new IoMeter({
    procRoot: s.host_proc,
    cgroupRoot: s.host_cgroup,
    cgroupVersion,
    parent,
    devices: s.io_devices,
  });
  // the first reading names the owner's disks (and is the baseline of the next)
  await meter.measure([], Date.now()).catch(() => undefined);
  // sysfs is where the cgroup filesystem is mounted under (/sys/fs/cgroup), else /sys
  const sysRoot = /\/fs\/cgroup\/?$/.test(s.host_cgroup)
    ? s.host_cgroup.replace(/\/fs\/cgroup\/?$/, '') || '/'
    : '/sys';
  const setup = await detectIoMechanism({
    cgroupRoot: s.host_cgroup,
    sysRoot,
    cgroupVersion,
    parent,
    wanted: s.io_mechanism as IoMechanismWanted,
    disks: [...meter.devices.values()],
  });
  const throttle =
    setup.mechanism === 'throttle'
      ? new IoThrottle({ cgroupRoot: s.host_cgroup, cgroupVersion, parent, bps: s.io_throttle_bps })
      : undefined;
  const watch = new IoWatch(setup, meter, new IoAccounting({ cgroupRoot: s.host_cgroup, cgroupVersion }), throttle);
  // nothing to cut back with: no counting is switched on either (nothing would read it)
  if (setup.mechanism !== 'none') await watch.ensureCounted();
  return watch;
}
