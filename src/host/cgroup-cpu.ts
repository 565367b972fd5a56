/**
 * Cumulative CPU time of one container, read from its cgroup. Docker puts the cgroup in a
 * different place for each cgroup version and driver, so we try the known places in turn.
 */
import { readKernelFile } from './kernel-file.ts';
import { ProcParseError } from '../core/errors.ts';

/** Engine container ids are 64 hex digits; a short id would silently never match a directory. */
const FULL_ID = /^[0-9a-f]{64}$/;

/**
 * Candidate files holding the CPU time of container `containerId`, most likely first:
 * cgroup v1 cgroupfs driver, cgroup v1 systemd driver, cgroup v2 (systemd, then cgroupfs),
 * and last the v2 hierarchy of a hybrid host (`${root}/unified`, a fallback only).
 * @param parent - Docker's `--cgroup-parent`; replaces `docker` in cgroupfs layouts, and
 *   `system.slice` in systemd layouts when it is a slice (the systemd driver accepts only those;
 *   pass a nested slice expanded, e.g. `a.slice/a-b.slice`).
 * @throws RangeError when `containerId` is not a full 64-hex id.
 */
export function containerCpuPaths(cgroupRoot: string, containerId: string, parent?: string): string[] {
  const { root, group, scope } = cgroupPlaces(cgroupRoot, containerId, parent);
  return [
    `${root}/cpuacct/${group}/${containerId}/cpuacct.usage`,
    `${root}/cpu,cpuacct/${group}/${containerId}/cpuacct.usage`,
    `${root}/cpu,cpuacct/${scope}/cpuacct.usage`,
    `${root}/cpuacct/${scope}/cpuacct.usage`,
    `${root}/${scope}/cpu.stat`,
    `${root}/${group}/${containerId}/cpu.stat`,
    `${root}/unified/${group}/${containerId}/cpu.stat`,
    `${root}/unified/${scope}/cpu.stat`,
  ];
}

/**
 * Where Docker puts a container's cgroups: `group/<id>` under the cgroupfs driver (`group` is
 * `docker` or the `--cgroup-parent`), `scope` (`<slice>/docker-<id>.scope`) under systemd.
 * @throws RangeError when `containerId` is not a full 64-hex id.
 */
export function cgroupPlaces(
  cgroupRoot: string,
  containerId: string,
  parent?: string,
): { root: string; group: string; scope: string } {
  if (!FULL_ID.test(containerId)) throw new RangeError(`not a full container id: "${containerId}"`);
  const trimmed = parent?.replace(/^\/+|\/+$/g, '');
  const group = trimmed === undefined || trimmed === '' ? 'docker' : trimmed;
  const slice = group.endsWith('.slice') ? group : 'system.slice';
  return { root: cgroupRoot.replace(/\/+$/, ''), group, scope: `${slice}/docker-${containerId}.scope` };
}

/**
 * Parses cgroup v1 `cpuacct.usage`: one decimal count of nanoseconds.
 * A number is exact to 2^53 ns (104 CPU-days); beyond that it loses nanoseconds, not shares.
 * @throws ProcParseError when the content is not one unsigned integer.
 */
export function parseCpuacctUsage(text: string, file = 'cpuacct.usage'): number {
  const value = text.trim();
  if (!/^\d+$/.test(value)) throw new ProcParseError(file, `expected nanoseconds, got "${value.slice(0, 40)}"`);
  return Number(value);
}

/**
 * Parses cgroup v2 `cpu.stat`'s `usage_usec` line, in nanoseconds.
 * @throws ProcParseError when there is no well-formed `usage_usec` line.
 */
export function parseCpuStat(text: string, file = 'cpu.stat'): number {
  const match = /^usage_usec (\d+)$/m.exec(text);
  if (match === null) throw new ProcParseError(file, 'no "usage_usec N" line');
  return Number(match[1]) * 1000;
}

/**
 * The container's cumulative CPU time in nanoseconds, from the first candidate file that can be
 * read; undefined when none can (container gone, or a layout we do not know).
 * @throws ProcParseError when the file found has unexpected content.
 */
export async function readContainerCpuNs(
  cgroupRoot: string,
  containerId: string,
  parent?: string,
): Promise<number | undefined> {
  for (const file of containerCpuPaths(cgroupRoot, containerId, parent)) {
    let text: string;
    try {
      text = await readKernelFile(file);
    } catch {
      continue;
    }
    return file.endsWith('/cpu.stat') ? parseCpuStat(text, file) : parseCpuacctUsage(text, file);
  }
  return undefined;
}
