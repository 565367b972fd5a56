/**
 * Where the kernel really put each pilot: its cgroups, read from its processes'
 * `/proc/<pid>/cgroup` under the host's /proc, instead of assumed from the engine's usual layout.
 * This finds pilots wherever the engine puts them: Docker's cgroupfs and systemd layouts, Podman's
 * `libpod_parent/libpod-<id>`, and a Docker engine running inside a container (the chart's dind
 * mode), whose pilots live under that container's own cgroup (`/docker/<dind id>/plancton/<id>`).
 */
import { readdir } from 'node:fs/promises';
import { readKernelFile } from './kernel-file.ts';
import { join } from 'node:path';

/** A pilot's cgroup directories, absolute paths under the cgroup root. */
export interface PilotCgroup {
  /** The cgroup (path relative to the hierarchy's root, e.g. `/docker/abc/plancton/<id>`) per controller: `cpu`, `cpuacct`, `memory`, or `''` for v2. */
  readonly paths: ReadonlyMap<string, string>;
  /** The root of the CPU controller's hierarchy (v1 `<root>/cpu` or `<root>/cpu,cpuacct`, or the v2 root). */
  readonly cpuRoot: string;
  /** The pilot's own directory in that hierarchy. */
  readonly cpuDir: string;
  /** The file with its cumulative CPU time: v1 `cpuacct.usage` (ns) or v2 `cpu.stat`. */
  readonly cpuUsageFile: string;
  /** The file with the memory it uses now: v1 `memory.usage_in_bytes` or v2 `memory.current`. */
  readonly memoryFile: string | undefined;
  /** Its directory with the I/O accounting and limits: v1 `blkio` (`blkio.throttle.*`), v2 the unified one (`io.stat`, `io.max`). */
  readonly ioDir: string | undefined;
  /** Its memory directory (`memory.stat`). */
  readonly memoryDir: string | undefined;
}

/** The v1 hierarchy directory under the root that holds `controller` (`blkio`, or a joined `blkio,...`); undefined when not mounted. */
function mountOf(mounts: readonly string[], controller: string): string | undefined {
  return mounts.includes(controller) ? controller : mounts.find((m) => m.split(',').includes(controller));
}

/** The pilot's directory in v1 hierarchy `controller`; undefined when it has no such line or the hierarchy is not mounted. */
function v1Dir(
  cgroupRoot: string,
  paths: ReadonlyMap<string, string>,
  mounts: readonly string[],
  controller: string,
): string | undefined {
  const path = paths.get(controller);
  const mount = mountOf(mounts, controller);
  return path === undefined || mount === undefined ? undefined : join(cgroupRoot, mount, path);
}

/**
 * Parses `/proc/<pid>/cgroup` ("ID:CONTROLLERS:PATH" lines) into a map controller -> path; the v2
 * line (`0::PATH`) is under the key `''`. Named hierarchies (`name=systemd`) are kept by name.
 */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, controllers = '', path = ''] = m;
    if (controllers === '') out.set('', path);
    for (const c of controllers.split(',')) if (c) out.set(c, path);
  }
  return out;
}

/** The pilot's directories under `cgroupRoot`, from its parsed `/proc/<pid>/cgroup`. `mounts` lists the v1 hierarchy directories present under the root. */
export function pilotCgroupOf(
  cgroupRoot: string,
  paths: ReadonlyMap<string, string>,
  mounts: readonly string[],
): PilotCgroup | undefined {
  const cpuPath = paths.get('cpu');
  if (cpuPath !== undefined) {
    const cpuMount = mounts.includes('cpu') ? 'cpu' : mounts.includes('cpu,cpuacct') ? 'cpu,cpuacct' : undefined;
    const acctMount = mounts.includes('cpuacct') ? 'cpuacct' : cpuMount;
    if (cpuMount === undefined || acctMount === undefined) return undefined;
    const memoryDir = v1Dir(cgroupRoot, paths, mounts, 'memory');
    return {
      paths,
      cpuRoot: join(cgroupRoot, cpuMount),
      cpuDir: join(cgroupRoot, cpuMount, cpuPath),
      cpuUsageFile: join(cgroupRoot, acctMount, paths.get('cpuacct') ?? cpuPath, 'cpuacct.usage'),
      memoryFile: memoryDir === undefined ? undefined : join(memoryDir, 'memory.usage_in_bytes'),
      ioDir: v1Dir(cgroupRoot, paths, mounts, 'blkio'),
      memoryDir,
    };
  }
  const unified = paths.get('');
  if (unified === undefined) return undefined;
  // a hybrid host mounts the v2 hierarchy at <root>/unified
  const base = mounts.includes('unified') ? join(cgroupRoot, 'unified') : cgroupRoot;
  const dir = join(base, unified);
  return {
    paths,
    cpuRoot: base,
    cpuDir: dir,
    cpuUsageFile: join(dir, 'cpu.stat'),
    memoryFile: join(dir, 'memory.current'),
    ioDir: dir,
    memoryDir: dir,
  };
}

/**
 * Finds pilots' cgroups from their processes. A pilot's processes are the ones whose cgroup
 * path names the pilot's full id (every engine puts the id in the last path element); the pid
 * the engine reports is not used, since it belongs to the engine's pid namespace, which for a
 * Docker-in-Docker engine is not the host's. Found cgroups are kept (a container's cgroup does
 * not move), so /proc is scanned only for pilots not seen before, once per call for all of them.
 */
export class PilotCgroupLocator {
  readonly #procRoot: string;
  readonly #cgroupRoot: string;
  readonly #found = new Map<string, PilotCgroup>();
  #mounts: string[] | undefined;

  constructor(procRoot: string, cgroupRoot: string) {
    this.#procRoot = procRoot;
    this.#cgroupRoot = cgroupRoot;
  }

  /** The cgroups of these pilots that could be found; forgets pilots not asked about unless `keep` (a lookup of a few). */
  async locate(ids: readonly string[], keep = false): Promise<Map<string, PilotCgroup>> {
    const asked = new Set(ids);
    if (!keep) for (const id of [...this.#found.keys()]) if (!asked.has(id)) this.#found.delete(id);
    const missing = ids.filter((id) => !this.#found.has(id) && /^[0-9a-f]{12,64}$/.test(id));
    if (missing.length > 0) await this.#scan(missing);
    return new Map(
      ids.flatMap((id) => {
        const c = this.#found.get(id);
        return c ? [[id, c] as const] : [];
      }),
    );
  }

  async #scan(ids: readonly string[]): Promise<void> {
    this.#mounts ??= await readdir(this.#cgroupRoot).catch(() => []);
    const pids = (await readdir(this.#procRoot).catch(() => [])).filter((p) => /^\d+$/.test(p));
    const left = new Set(ids);
    for (const pid of pids) {
      if (left.size === 0) break;
      const text = await readKernelFile(join(this.#procRoot, pid, 'cgroup')).catch(() => undefined);
      if (text === undefined) continue;
      const id = [...left].find((x) => text.includes(x));
      if (id === undefined) continue;
      const paths = parseProcCgroup(text);
      // the id must be in the pilot's own (last) path element, not only in an ancestor's
      const own = [...paths.values()].some((p) => (p.split('/').at(-1) ?? '').includes(id));
      if (!own) continue;
      const found = pilotCgroupOf(this.#cgroupRoot, paths, this.#mounts);
      if (found) {
        this.#found.set(id, found);
        left.delete(id);
      }
    }
  }
}
