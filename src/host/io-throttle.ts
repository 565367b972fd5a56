/** The `throttle` mechanism: a bandwidth limit on the pilots' I/O while the owner uses the disk. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cgroupPlaces } from './cgroup-cpu.ts';

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

  constructor(options: IoThrottleOptions) {
    this.#o = options;
  }

  /** The cgroups limited now (pilot ids, or `parent`), for status and tests. */
  get limited(): readonly string[] {
    return [...this.#limited];
  }

  /**
   * Limits (`limit`) or lifts the limit on `devices` (`major:minor`) for `pilotIds`. A pilot that
   * is gone is forgotten; a write that fails is reported in the result, never thrown.
   */
  async apply(limit: boolean, pilotIds: readonly string[], devices: readonly string[]): Promise<string[]> {
    const errors: string[] = [];
    const write = (file: string, body: string): Promise<void> =>
      writeFile(file, body).catch((err: Error) => void errors.push(`${file}: ${err.message}`));
    if (this.#o.cgroupVersion === '2') {
      const file = join(this.#o.cgroupRoot, this.#o.parent ?? 'docker', 'io.max');
      if (limit !== this.#limited.has('parent')) {
        for (const dev of devices)
          await write(file, limit ? `${dev} rbps=${this.#o.bps} wbps=${this.#o.bps}\n` : `${dev} rbps=max wbps=max\n`);
        if (limit) this.#limited.add('parent');
        else this.#limited.delete('parent');
      }
      return errors;
    }
    const present = new Set(pilotIds);
    for (const id of [...this.#limited]) if (!present.has(id)) this.#limited.delete(id);
    const targets = limit ? pilotIds.filter((id) => !this.#limited.has(id)) : [...this.#limited];
    for (const id of targets) {
      const { root, group } = cgroupPlaces(this.#o.cgroupRoot, id, this.#o.parent);
      const dir = join(root, 'blkio', group, id);
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
