import { readKernelFile } from './kernel-file.ts';
import { cgroupPlaces } from './cgroup-cpu.ts';

/**
 * Candidate files with the memory a container uses now, in bytes (page cache included, as the
 * kernel charges it): cgroup v1 `memory.usage_in_bytes`, cgroup v2 `memory.current`, in the same
 * layouts as the CPU files.
 */
export function containerMemoryPaths(cgroupRoot: string, containerId: string, parent?: string): string[] {
  const { root, group, scope } = cgroupPlaces(cgroupRoot, containerId, parent);
  return [
    `${root}/memory/${group}/${containerId}/memory.usage_in_bytes`,
    `${root}/memory/${scope}/memory.usage_in_bytes`,
    `${root}/${scope}/memory.current`,
    `${root}/${group}/${containerId}/memory.current`,
    `${root}/unified/${group}/${containerId}/memory.current`,
  ];
}

/** The first readable candidate's value; undefined when none is there (or it holds no number). */
export async function readContainerMemoryBytes(
  cgroupRoot: string,
  containerId: string,
  parent?: string,
): Promise<number | undefined> {
  for (const file of containerMemoryPaths(cgroupRoot, containerId, parent)) {
    const text = await readKernelFile(file).catch(() => undefined);
    if (text === undefined) continue;
    const n = Number(text.trim());
    return Number.isFinite(n) && n >= 0 ? n : undefined;
  }
  return undefined;
}
