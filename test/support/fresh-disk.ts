/**
 * A block device that has never had a throttle rule since boot, for the disk tests and the I/O
 * benchmark: a new loop device with a minor number not used since boot, backed by a file on
 * tmpfs (its I/O stays off the machine's disk), optionally with an ext4 file system mounted.
 *
 * Why: on cgroup v1 the kernel counts no cgroup's I/O on a disk until a blk-throttle rule has
 * existed for it (src/host/io-accounting.ts), and once one has, it counts until the disk goes
 * away. A machine on which a test or an experiment once set a rule on its root disk counts there,
 * a fresh host does not: a test on the root disk could pass on leftovers. This device is checked
 * to be unlisted (never ruled) before it is handed out.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { CGROUP_ROOT } from './host.ts';

export interface FreshDisk {
  /** `loopN`, as /proc/diskstats and `io_devices` name it. */
  readonly name: string;
  /** `7:N`, as the cgroup files name it. */
  readonly dev: string;
  readonly path: string;
  /** Where its ext4 file system is mounted, when asked for. */
  readonly mount?: string | undefined;
  /** Unmounts, detaches and removes the device, its node and its backing file. */
  remove(): Promise<void>;
}

const LOOP_MAJOR = 7;
/** LOOP_CTL_REMOVE (linux/loop.h): removes a detached loop device, so that its minor is gone for good. */
const LOOP_CTL_REMOVE = 0x4c81;
const LISTING = join(CGROUP_ROOT, 'blkio', 'blkio.throttle.io_serviced');

/** Whether the kernel's blk-throttle lists (so counts) the device `dev` (`major:minor`); false on cgroup v2. */
export function throttleCounts(dev: string): boolean {
  try {
    return readFileSync(LISTING, 'utf8')
      .split('\n')
      .some((l) => l.startsWith(`${dev} `));
  } catch {
    return false;
  }
}

const sh = async (cmd: string, args: readonly string[]): Promise<string> => {
  const r = await execa(cmd, args, { reject: false, timeout: 60_000 });
  if (r.failed) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.shortMessage}`);
  return r.stdout.trim();
};

/** Minors of loop devices this machine has now (/sys/block/loopN). */
function usedMinors(): Set<number> {
  const t = readFileSync('/proc/diskstats', 'utf8');
  return new Set(
    t
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[0] === String(LOOP_MAJOR))
      .map((f) => Number(f[1])),
  );
}

/**
 * A new loop device of `sizeMiB` MiB on tmpfs (/dev/shm), never ruled since boot, with an ext4
 * file system mounted when `mount` is set.
 * @throws when no such device can be made, or the device is already counted (not fresh).
 */
export async function freshLoopDisk(sizeMiB: number, mount = false): Promise<FreshDisk> {
  const used = usedMinors();
  let minor = 0;
  // a random minor well above the ones the system makes at boot (0-7) and not present now
  for (let i = 0; i < 100 && (minor === 0 || used.has(minor) || existsSync(`/sys/block/loop${minor}`)); i++)
    minor = 200 + Math.floor(Math.random() * 800);
  const name = `loop${minor}`;
  const path = `/dev/${name}`;
  const dev = `${LOOP_MAJOR}:${minor}`;
  const backing = join('/dev/shm', `plancton-test-${name}-${process.pid}.img`);
  const madeNode = !existsSync(path);
  let dir: string | undefined;
  const remove = async (): Promise<void> => {
    if (dir) {
      await execa('umount', ['-l', dir], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    }
    await execa('losetup', ['-d', path], { reject: false });
    await execa(
      'python3',
      [
        '-c',
        `import fcntl, os\nfd = os.open('/dev/loop-control', os.O_RDWR)\nfcntl.ioctl(fd, ${LOOP_CTL_REMOVE}, ${minor})`,
      ],
      { reject: false },
    );
    if (madeNode) rmSync(path, { force: true });
    rmSync(backing, { force: true });
  };
  try {
    await sh('truncate', ['-s', `${sizeMiB}M`, backing]);
    if (madeNode) await sh('mknod', [path, 'b', String(LOOP_MAJOR), String(minor)]);
    await sh('losetup', [path, backing]);
    if (throttleCounts(dev)) throw new Error(`${name} (${dev}) is already counted by blk-throttle: not a fresh device`);
    if (mount) {
      // no lazy initialisation: its background writes would count as the owner's I/O
      await sh('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', path]);
      dir = mkdtempSync(join(tmpdir(), `plancton-disk-${name}-`));
      await sh('mount', [path, dir]);
      await sh('chmod', ['1777', dir]);
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { name, dev, path, mount: dir, remove };
}
