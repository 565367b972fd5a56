/**
 * Whether the kernel counts each cgroup's block I/O on the disks the meter reads, and, on cgroup
 * v1, switching that counting on.
 *
 * cgroup v1: the per-cgroup counters the meter reads (`blkio.throttle.io_serviced`,
 * `..._service_bytes`, their `_recursive` forms) belong to blk-throttle, which the kernel (6.10 and
 * later) sets up on a disk only when a throttle rule is first written for it: until then no cgroup
 * counts anything on that disk, and the disk is not even listed in those files. Measured on 6.18: a
 * container writing 640 MiB with O_DIRECT counted `Total 0`. Writing `MAJ:MIN 0` (which means "no
 * limit") to a `blkio.throttle.*_device` file sets blk-throttle up without limiting anything, and it
 * stays set up, counting every cgroup, until the disk goes away. So a listed disk is a counted one.
 *
 * cgroup v2: `io.stat` is kept by the blk-cgroup core for every bio from the first byte, in every
 * cgroup the io controller is enabled for; nothing needs switching on, but a tree without the io
 * controller has no `io.stat` to read.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBlkioStat } from './blkio-stat.ts';
import { readKernelFile } from './kernel-file.ts';

/** How the pilots' I/O is metered, for status and the log. */
export interface IoMetering {
  /** The kernel's counters read. */
  readonly how: string;
  /** Disks (names) on which the kernel counts each cgroup's I/O. */
  readonly counted: readonly string[];
  /** Disks (names) whose counting Plancton switched on (cgroup v1), a subset of `counted`. */
  readonly switchedOn: readonly string[];
  /** Disks on which no cgroup's I/O can be seen, each with why. */
  readonly blind: ReadonlyArray<{ readonly disk: string; readonly why: string }>;
}

export interface IoAccountingOptions {
  readonly cgroupRoot: string;
  readonly cgroupVersion: '1' | '2';
}

/** `disk: why` of every blind disk, for status and the log; empty when every disk is counted. */
export function blindText(m: IoMetering): string {
  return m.blind.map((b) => `${b.disk}: ${b.why}`).join('; ');
}

/** The v1 file whose listing says which disks blk-throttle counts, and the one the no-op rule goes to. */
const V1_LISTING = 'blkio.throttle.io_serviced';
const V1_RULE = 'blkio.throttle.read_bps_device';

export class IoAccounting {
  readonly #o: IoAccountingOptions;
  #metering: IoMetering;
  readonly #switchedOn = new Set<string>();

  constructor(options: IoAccountingOptions) {
    this.#o = options;
    this.#metering = { how: this.#how(), counted: [], switchedOn: [], blind: [] };
  }

  get metering(): IoMetering {
    return this.#metering;
  }

  /** Whether no metered disk is counted: the meter sees no cgroup's I/O at all. */
  get blind(): boolean {
    return this.#metering.counted.length === 0 && this.#metering.blind.length > 0;
  }

  #how(): string {
    return this.#o.cgroupVersion === '1'
      ? 'cgroup v1 blkio.throttle counters (the kernel counts a disk only once blk-throttle is set up for it)'
      : 'cgroup v2 io.stat (counted from the first byte)';
  }

  /**
   * Makes sure the kernel counts every cgroup's I/O on `devices` (`major:minor` to name), switching
   * counting on where it is off (v1: a no-op rule on the root cgroup, which limits nothing and
   * removes no rule, since a disk with a rule anywhere is counted already), and says where it cannot.
   * Never throws: what fails is reported in `blind`.
   */
  async ensure(devices: ReadonlyMap<string, string>): Promise<IoMetering> {
    this.#metering = this.#o.cgroupVersion === '1' ? await this.#ensureV1(devices) : await this.#checkV2(devices);
    return this.#metering;
  }

  async #ensureV1(devices: ReadonlyMap<string, string>): Promise<IoMetering> {
    const dir = join(this.#o.cgroupRoot, 'blkio');
    const listed = async (): Promise<Set<string>> =>
      new Set(parseBlkioStat(await readKernelFile(join(dir, V1_LISTING)), join(dir, V1_LISTING)).keys());
    const failures = new Map<string, string>();
    let counted: Set<string>;
    try {
      counted = await listed();
      const unlisted = [...devices.keys()].filter((dev) => !counted.has(dev));
      for (const dev of unlisted) {
        // a kernel file, written at once (kernel-file.ts says why such files are not queued to libuv)
        try {
          writeFileSync(join(dir, V1_RULE), `${dev} 0\n`);
        } catch (err) {
          failures.set(dev, `writing "${dev} 0" to ${join(dir, V1_RULE)} failed: ${(err as Error).message}`);
        }
      }
      const before = counted;
      // read again only where a rule was written: the kernel lists a disk once it counts it
      if (unlisted.length) counted = await listed();
      for (const [dev, name] of devices) if (counted.has(dev) && !before.has(dev)) this.#switchedOn.add(name);
    } catch (err) {
      const why = `cannot read ${join(dir, V1_LISTING)}: ${(err as Error).message}`;
      return {
        how: this.#how(),
        counted: [],
        switchedOn: [],
        blind: [...devices.values()].map((disk) => ({ disk, why })),
      };
    }
    const names = [...devices].filter(([dev]) => counted.has(dev)).map(([, n]) => n);
    return {
      how: this.#how(),
      counted: names,
      switchedOn: names.filter((n) => this.#switchedOn.has(n)),
      blind: [...devices]
        .filter(([dev]) => !counted.has(dev))
        .map(([dev, disk]) => ({
          disk,
          why:
            failures.get(dev) ??
            `the kernel does not list ${dev} in ${join(dir, V1_LISTING)} even after a no-op rule was written for it`,
        })),
    };
  }

  async #checkV2(devices: ReadonlyMap<string, string>): Promise<IoMetering> {
    const file = join(this.#o.cgroupRoot, 'cgroup.subtree_control');
    const controllers = await readKernelFile(file).catch(() => undefined);
    const on = controllers?.split(/\s+/).includes('io') === true;
    const why =
      controllers === undefined
        ? `cannot read ${file}`
        : `the io controller is not enabled in ${file}, so no cgroup below it has an io.stat`;
    const names = [...devices.values()];
    return {
      how: this.#how(),
      counted: on ? names : [],
      switchedOn: [],
      blind: on ? [] : names.map((disk) => ({ disk, why })),
    };
  }
}
