import type { ConfigProblem } from '../core/errors.ts';
import type { DeviceMapping, PilotShape } from '../core/pilot-shape.ts';
import type { Settings } from './schema/keys.ts';

export type { PilotShape } from '../core/pilot-shape.ts';

/** 0.6 split a string command on spaces; a list is taken as it is. */
export function splitCommand(cmd: string | readonly string[]): string[] {
  return typeof cmd === 'string' ? cmd.trim().split(/\s+/) : [...cmd];
}

/** `stop_command` normalised like `docker_cmd`: a string split on spaces, a list as it is; empty: none. */
export function stopCommandOf(cmd: string | readonly string[]): string[] {
  return splitCommand(cmd).filter(Boolean);
}

const PERMS = /^(?!.*(.).*\1)[rwm]{1,3}$/;

/** Devices as `host[:container[:perms]]` strings or as 0.6-era maps (PathOnHost / PathInContainer / CgroupPermissions). */
export function normalizeDevices(list: readonly unknown[], problems: ConfigProblem[]): DeviceMapping[] {
  const out: DeviceMapping[] = [];
  list.forEach((item, i) => {
    const bad = (message: string): void => void problems.push({ key: `devices[${i}]`, message });
    let pathOnHost: unknown, pathInContainer: unknown, cgroupPermissions: unknown;
    if (typeof item === 'string') {
      [pathOnHost, pathInContainer, cgroupPermissions] = item.split(':');
      if (item.split(':').length > 3) return bad(`"${item}" is not host[:container[:perms]]`);
    } else if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
      const m = item as Record<string, unknown>;
      const unknown = Object.keys(m).filter((k) => !['PathOnHost', 'PathInContainer', 'CgroupPermissions'].includes(k));
      if (unknown.length)
        return bad(`unknown field(s) ${unknown.join(', ')} (expected PathOnHost, PathInContainer, CgroupPermissions)`);
      ({ PathOnHost: pathOnHost, PathInContainer: pathInContainer, CgroupPermissions: cgroupPermissions } = m);
    } else {
      return bad('must be a "host:container:perms" string or a map with PathOnHost');
    }
    pathInContainer = pathInContainer === undefined || pathInContainer === '' ? pathOnHost : pathInContainer;
    cgroupPermissions = cgroupPermissions === undefined || cgroupPermissions === '' ? 'rwm' : cgroupPermissions;
    if (typeof pathOnHost !== 'string' || !pathOnHost.startsWith('/')) return bad('the host path must be absolute');
    if (typeof pathInContainer !== 'string' || !pathInContainer.startsWith('/'))
      return bad('the container path must be absolute');
    if (typeof cgroupPermissions !== 'string' || !PERMS.test(cgroupPermissions))
      return bad('permissions must be letters from "rwm"');
    out.push({ pathOnHost, pathInContainer, cgroupPermissions });
  });
  return out;
}

/** `SYS_ADMIN` / `+SYS_ADMIN` add, `-NET_RAW` drops; a `CAP_` prefix is accepted. */
export function splitCapabilities(
  list: readonly string[],
  problems: ConfigProblem[],
): { add: string[]; drop: string[] } {
  const add: string[] = [];
  const drop: string[] = [];
  list.forEach((raw, i) => {
    const m = /^\s*([+-]?)\s*(?:CAP_)?([A-Z_]+)\s*$/i.exec(raw);
    if (!m)
      return void problems.push({
        key: `capabilities[${i}]`,
        message: `"${raw}" is not a capability such as SYS_ADMIN, +SYS_ADMIN or -NET_RAW`,
      });
    (m[1] === '-' ? drop : add).push((m[2] ?? '').toUpperCase());
  });
  return { add, drop };
}

/** Bind mounts need a container path that is absolute. */
function checkBinds(binds: readonly string[], problems: ConfigProblem[]): void {
  binds.forEach((b, i) => {
    const parts = b.split(':');
    if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]?.startsWith('/')) {
      problems.push({
        key: `binds[${i}]`,
        message: `"${b}" is not host:container[:options] with an absolute container path`,
      });
    }
  });
}

function checkEnv(env: readonly string[], problems: ConfigProblem[]): void {
  env.forEach((e, i) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(e))
      problems.push({ key: `docker_env[${i}]`, message: `"${e}" is not NAME=value` });
  });
}

/** Normalizes the pilot-shaping keys, adding a problem per bad entry. */
export function pilotShape(s: Settings, problems: ConfigProblem[]): PilotShape {
  const caps = splitCapabilities(s.capabilities, problems);
  checkBinds(s.binds, problems);
  checkEnv(s.docker_env, problems);
  return {
    image: s.docker_image.trim(),
    cmd: splitCommand(s.docker_cmd),
    user: s.user_group,
    cpusPerDock: s.cpus_per_dock,
    memoryBytes: s.max_dock_mem,
    swapBytes: s.max_dock_swap,
    binds: s.binds,
    devices: normalizeDevices(s.devices, problems),
    capAdd: caps.add,
    capDrop: leastPrivilegeDrop(s, caps),
    securityOpt: leastPrivilegeOpts(s),
    privileged: s.docker_privileged,
    network: s.docker_network,
    env: s.docker_env,
    pidsLimit: s.max_dock_pids,
  };
}

/** NET_RAW dropped by default, unless the site adds it (or ALL) back or drops it already. */
function leastPrivilegeDrop(s: Settings, caps: { add: string[]; drop: string[] }): string[] {
  const keep = caps.add.includes('NET_RAW') || caps.add.includes('ALL') || caps.drop.includes('NET_RAW');
  return s.docker_drop_net_raw && !keep ? [...caps.drop, 'NET_RAW'] : caps.drop;
}

/** no-new-privileges by default, unless the site says something about it itself. */
function leastPrivilegeOpts(s: Settings): string[] {
  const said = s.security_opts.some((o) => /^\s*no-new-privileges\b/i.test(o));
  return s.docker_no_new_privileges && !said ? [...s.security_opts, 'no-new-privileges'] : [...s.security_opts];
}
