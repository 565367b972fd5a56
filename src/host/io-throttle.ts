/** The `throttle` mechanism: a bandwidth limit on the pilots' I/O while the owner uses the disk. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface IoThrottleOptions {
  readonly cgroupRoot: string;
  readonly cgroupVersion: '1' | '2';
  /** The pilots' parent cgroup, one directory name; undefined: `docker`. */
  readonly parent: string | undefined;
  /** Bytes per second each limited cgroup may read and write. */
  readonly bps: number;
}

/**
 * Writes and lifts the limits. cgroup v1's blk-throttle is flat (a parent's limit does not reach
 * its children, seen on this kernel: a 10 MB/s parent limit left a child writing at 500 MB/s),
 * so v1 limits each pilot's own cgroup, and a pilot started while the limit holds gets it on the
 * next pass; v2's io.max on the parent covers every pilot.
 */
export class IoThrottle {
  readonly #o: IoThrottleOptions;
  /** Pilots (v1) or the parent (v2: the key `parent`) limited now. */
  readonly #limited = new Set<string>();
  /** v2: the io.max file limited, lifted where it was written. */
  #parentFile: string | undefined;

  constructor(options: IoThrottleOptions) {
    this.#o = options;
  }

  /** The cgroups limited now (pilot ids, or `parent`), for status and tests. */
  get limited(): readonly string[] {
    return [...this.#limited];
  }

  /**
   * Limits (`limit`) or lifts the limit on `devices` (`major:minor`) for the pilots in `pilotDirs`
   * (id -> its own I/O cgroup directory, where it was found; io-meter.ts), or (v2) on `parentDir`,
   * the pilots' parent where they were found (undefined: the configured one). A pilot that is gone
   * is forgotten; a write that fails is reported in the result, never thrown.
   */
  async apply(
    limit: boolean,
    pilotDirs: ReadonlyMap<string, string>,
    devices: readonly string[],
    parentDir?: string,
  ): Promise<string[]> {
    const errors: string[] = [];
    const write = (file: string, body: string): Promise<void> =>
      writeFile(file, body).catch((err: Error) => void errors.push(`${file}: ${err.message}`));
    if (this.#o.cgroupVersion === '2') {
      const file =
        (!limit && this.#parentFile) ||
        join(parentDir ?? join(this.#o.cgroupRoot, this.#o.parent ?? 'docker'), 'io.max');
      if (limit !== this.#limited.has('parent')) {
        this.#parentFile = limit ? file : undefined;
        for (const dev of devices)
          await write(file, limit ? `${dev} rbps=${this.#o.bps} wbps=${this.#o.bps}\n` : `${dev} rbps=max wbps=max\n`);
        if (limit) this.#limited.add('parent');
        else this.#limited.delete('parent');
      }
      return errors;
    }
    for (const id of [...this.#limited]) if (!pilotDirs.has(id)) this.#limited.delete(id);
    const targets = limit ? [...pilotDirs.keys()].filter((id) => !this.#limited.has(id)) : [...this.#limited];
    for (const id of targets) {
      const dir = pilotDirs.get(id);
      if (dir === undefined) continue;
      const before = errors.length;
      for (const dev of devices) {
        // `MAJ:MIN 0` removes the rule
        await write(join(dir, 'blkio.throttle.write_bps_device'), `${dev} ${limit ? this.#o.bps : 0}\n`);
        await write(join(dir, 'blkio.throttle.read_bps_device'), `${dev} ${limit ? this.#o.bps : 0}\n`);
      }
      if (limit && errors.length === before) this.#limited.add(id);
      if (!limit) this.#limited.delete(id);
    }
    return errors;
  }
}
