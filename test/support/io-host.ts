/** Shared by the I/O integration test and bench/io-interference.ts: writers, and what the kernel says. */
import { readFileSync } from 'node:fs';
import { execa, type ResultPromise } from 'execa';
import { CGROUP_ROOT } from './host.ts';

/**
 * A pilot command that writes and syncs `mib` MiB files in a loop, appending one line per file
 * to /w (so its throughput can be read back with `wc -l /w`), like job output or a cache fill.
 * `dir` is where the files go (a bind mount of a test disk; each pilot its own file); default /.
 */
export function writerCmd(mib: number, dir = ''): string[] {
  const f = dir ? `${dir}/f.$(hostname)` : '/f';
  return [
    'sh',
    '-c',
    `while true; do dd if=/dev/zero of=${f} bs=1M count=${mib} conv=fsync 2>/dev/null; rm -f ${f}; echo x >> /w; done`,
  ];
}

/** A pilot command that writes `mib` MiB with O_DIRECT to the block device `device` in a loop (counted at once by the kernel). */
export function deviceWriterCmd(mib: number, device: string): string[] {
  return [
    'sh',
    '-c',
    `while true; do dd if=/dev/zero of=${device} bs=1M count=${mib} oflag=direct 2>/dev/null; echo x >> /w; done`,
  ];
}

/** An owner process on the host: 4 KiB writes, each synced (like a database commit), in a loop until ended. */
export function ownerSyncWriter(file: string): ResultPromise {
  return execa('sh', ['-c', `while :; do dd if=/dev/zero of=${file} bs=4k count=200 oflag=dsync 2>/dev/null; done`], {
    reject: false,
  });
}

/** cgroup v1 freezer state of a container under `parent` (FROZEN, THAWED); undefined when there is no such file. */
export function freezerState(id: string, parent: string): string | undefined {
  try {
    return readFileSync(`${CGROUP_ROOT}/freezer/${parent}/${id}/freezer.state`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** cgroup v1 write limits of a container under `parent`: its `blkio.throttle.write_bps_device` lines. */
export function writeLimits(id: string, parent: string): string[] {
  try {
    return readFileSync(`${CGROUP_ROOT}/blkio/${parent}/${id}/blkio.throttle.write_bps_device`, 'utf8')
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** Whether the host runs cgroup v1 (a blkio hierarchy) and the disks' active schedulers. */
export function hostIoFacts(): { v1: boolean; schedulers: string[] } {
  let v1 = false;
  try {
    readFileSync(`${CGROUP_ROOT}/blkio/blkio.throttle.io_serviced`, 'utf8');
    v1 = true;
  } catch {
    v1 = false;
  }
  const disks = readFileSync('/proc/diskstats', 'utf8')
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[2] ?? '')
    .filter((n) => /^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+n\d+)$/.test(n));
  const schedulers = disks.map((d) => {
    try {
      return /\[([^\]]+)\]/.exec(readFileSync(`/sys/block/${d}/queue/scheduler`, 'utf8'))?.[1] ?? 'none';
    } catch {
      return 'unknown';
    }
  });
  return { v1, schedulers };
}
