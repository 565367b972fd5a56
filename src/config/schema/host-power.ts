import { posix } from 'node:path';
import type { Settings } from './keys.ts';

/**
 * Settings that give a pilot power over the host: with any of them, a pilot can leave its
 * sandbox (read or change the host's files, processes, devices, network, or the engine itself).
 * Plancton names each at `config check`, at start and in status; a remote source or an
 * environment variable may set one only when the local configuration allows exactly it.
 */
export interface HostPower {
  /** The key as named in errors, with the list index: `capabilities[0]`. */
  readonly key: string;
  /** The top-level key, for its origin. */
  readonly setting: keyof Settings;
  /**
   * What `allow_host_power` must list to let a remote source or the environment set it: `capabilities:SYS_ADMIN`
   * (the kinds of GRANT_PATTERN, formats.ts).
   */
  readonly grant: string;
  readonly why: string;
}

/** Host trees a pilot must not see at all: binding one, a directory above one, or anything inside one gives power over the host. */
const HIDDEN = [
  '/',
  '/proc',
  '/sys',
  '/dev',
  '/run',
  '/var/run',
  '/root',
  '/home',
  '/boot',
  '/var/lib/docker',
  '/var/lib/containerd',
  '/var/lib/kubelet',
];
/** Host trees a pilot may read a part of (e.g. a token under /etc, read-only), but not change, nor see whole. */
const SYSTEM = ['/etc', '/usr', '/bin', '/sbin', '/lib', '/lib64', '/var/log'];
/** Secrets under the system trees: not even read-only. */
const SECRET = /^\/etc\/(shadow|gshadow|sudoers|ssh|kubernetes|docker|ssl\/private|pki)(\/|$|-)/;

/** Docker's default capability set: adding one outside it widens the sandbox. */
const DEFAULT_CAPS = new Set([
  'CHOWN',
  'DAC_OVERRIDE',
  'FSETID',
  'FOWNER',
  'MKNOD',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SETFCAP',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'KILL',
  'AUDIT_WRITE',
]);

const CAP_WHY: Readonly<Record<string, string>> = {
  ALL: 'every capability: as good as privileged',
  SYS_ADMIN: 'mounts, namespaces, cgroups: the usual way out of a container',
  SYS_PTRACE: 'traces and injects code into processes it can see',
  SYS_MODULE: "loads kernel modules into the host's kernel",
  SYS_RAWIO: "raw I/O to the host's devices and ports",
  SYS_BOOT: 'reboots the host',
  SYS_TIME: "sets the host's clock",
  NET_ADMIN: 'reconfigures networking, firewall rules included',
  DAC_READ_SEARCH: "opens host files by handle, past the container's root (shocker)",
  BPF: "loads BPF programs into the host's kernel",
  PERFMON: "observes the host's kernel and processes",
  MAC_ADMIN: "changes the host's mandatory access control policy",
  MAC_OVERRIDE: "overrides the host's mandatory access control",
  SYSLOG: "reads the host's kernel log and addresses",
};

const RAW_DISK =
  /^\/dev\/(sd[a-z]+|hd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+(n\d+)?|mmcblk\d+|dm-\d+|md\d+|loop\d+|sr\d+|mapper\/.*|disk\/.*|nbd\d+)/;

function pathPower(raw: string, readOnly: boolean): string | undefined {
  const p = posix.normalize(raw).replace(/(.)\/+$/, '$1');
  if (/(^|\/)(docker|containerd|podman|crio|cri-dockerd)\.sock$/.test(p))
    return "the container engine's socket: root on the host";
  if (p.endsWith('.sock')) return "a host service's socket";
  if (SECRET.test(p)) return 'host secrets';
  for (const s of [...HIDDEN, ...SYSTEM]) {
    if (p === s) return s === '/' ? "the host's whole file system" : `the host's ${s}`;
    if (s.startsWith(`${p === '/' ? '' : p}/`)) return `a directory holding the host's ${s}`;
    if (s !== '/' && p.startsWith(`${s}/`) && (HIDDEN.includes(s) || !readOnly))
      return `${readOnly ? '' : 'read-write '}a part of the host's ${s}`;
  }
  return undefined;
}

function devicePower(path: string): string {
  if (/^\/dev\/(mem|kmem|port)$/.test(path)) return "reads and writes the host's physical memory";
  if (RAW_DISK.test(path)) return 'reads and writes a host disk below its file systems';
  if (path === '/dev/fuse') return 'FUSE mounts (with SYS_ADMIN, as CVMFS needs)';
  return 'a device of the host';
}

/** `host` and `container:<name>`: a network stack other than the pilot's own. */
function networkPower(net: string): string | undefined {
  if (net === 'host') return "the host's network stack, its loopback services included";
  if (net.startsWith('container:')) return "another container's network stack (Plancton's own, or a service's)";
  return undefined;
}

/** `seccomp=unconfined` and `seccomp:unconfined` alike. */
function securityPower(opt: string): string | undefined {
  const m = /^([a-z-]+)[=:](.*)$/i.exec(opt.trim());
  if (!m) return undefined;
  const name = (m[1] ?? '').toLowerCase();
  const value = (m[2] ?? '').toLowerCase();
  if (name === 'seccomp')
    return value === 'unconfined' ? 'turns seccomp off' : "replaces Docker's default seccomp profile";
  if (name === 'apparmor' && value === 'unconfined') return 'turns AppArmor off';
  if (name === 'label' && (value === 'disable' || /spc_t|unconfined_t/.test(value)))
    return 'turns SELinux confinement off';
  if (name === 'systempaths' && value === 'unconfined') return 'unmasks /proc and /sys paths';
  if (name === 'no-new-privileges' && /^(false|0|no)$/.test(value)) return 'lets setuid programs gain privileges';
  return undefined;
}

/** Every setting of `s` that gives a pilot power over the host; keys in `skip` (already refused) are left out. */
export function hostPowerOf(settings: Readonly<Settings>, skip: ReadonlySet<string> = new Set()): HostPower[] {
  const out: HostPower[] = [];
  const none = {
    docker_privileged: false,
    binds: [],
    capabilities: [],
    devices: [],
    security_opts: [],
    docker_network: '',
  };
  const s: Readonly<Settings> = {
    ...settings,
    ...Object.fromEntries(Object.entries(none).filter(([k]) => skip.has(k))),
  };
  if (s.docker_privileged)
    out.push({
      key: 'docker_privileged',
      setting: 'docker_privileged',
      grant: 'docker_privileged',
      why: 'a privileged pilot is root on the host',
    });
  s.binds.forEach((b, i) => {
    const [host = '', , options = ''] = b.split(':');
    const why = host.startsWith('/') ? pathPower(host, options.split(',').includes('ro')) : undefined;
    if (why) out.push({ key: `binds[${i}]`, setting: 'binds', grant: `binds:${host}`, why: `binds ${why}` });
  });
  s.capabilities.forEach((c, i) => {
    const m = /^\s*(\+?)\s*(?:CAP_)?([A-Z_]+)\s*$/i.exec(c);
    const cap = (m?.[2] ?? '').toUpperCase();
    if (m && !DEFAULT_CAPS.has(cap))
      out.push({
        key: `capabilities[${i}]`,
        setting: 'capabilities',
        grant: `capabilities:${cap}`,
        why: CAP_WHY[cap] ?? 'a capability Docker does not give containers',
      });
  });
  s.devices.forEach((d, i) => {
    const onHost = typeof d === 'string' ? d.split(':')[0] : (d as Record<string, unknown> | null)?.PathOnHost;
    const path = typeof onHost === 'string' ? onHost : '';
    out.push({ key: `devices[${i}]`, setting: 'devices', grant: `devices:${path}`, why: devicePower(path) });
  });
  s.security_opts.forEach((o, i) => {
    const why = securityPower(o);
    if (why)
      out.push({ key: `security_opts[${i}]`, setting: 'security_opts', grant: `security_opts:${o.trim()}`, why });
  });
  const net = s.docker_network.trim();
  const netWhy = networkPower(net);
  if (netWhy)
    out.push({ key: 'docker_network', setting: 'docker_network', grant: `docker_network:${net}`, why: netWhy });
  return out;
}

/** Where a value came from, as the loader knows it; `remote` is a file part fetched from the config URL. */
export type PowerOrigin = 'default' | 'file' | 'remote' | 'env' | 'arg';

const FROM: Readonly<Record<PowerOrigin, string>> = {
  default: 'the defaults',
  file: 'the local configuration file',
  remote: 'the configuration URL',
  env: 'the environment',
  arg: 'the command line',
};

/**
 * Refuses each host-power setting that came from the config URL or the environment unless
 * `allowed` lists its grant exactly, and names every one that stays in a warning.
 * @param originOf - where each top-level key's value came from.
 * @param allowed - the local `allow_host_power` entries.
 */
export function gateHostPower(
  powers: readonly HostPower[],
  originOf: (key: keyof Settings) => PowerOrigin,
  allowed: ReadonlySet<string>,
  envName: (key: string) => string,
  problems: Array<{ key: string; message: string }>,
  warnings: string[],
): void {
  for (const p of powers) {
    const origin = originOf(p.setting);
    const by = origin === 'env' ? `${FROM.env} (${envName(p.setting)})` : FROM[origin];
    if ((origin === 'env' || origin === 'remote') && !allowed.has(p.grant)) {
      problems.push({
        key: p.key,
        message: `gives pilots power over the host (${p.why}) and comes from ${by}, which may set it only when allow_host_power in the local configuration lists "${p.grant}"`,
      });
    } else {
      warnings.push(
        `host power: ${p.key} (${p.grant}) ${p.why}; set by ${by}${allowed.has(p.grant) ? ', allowed by allow_host_power' : ''}`,
      );
    }
  }
}
