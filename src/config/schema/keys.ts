import convict from 'convict';
import { registerFormats } from './formats.ts';

/** The configuration as written by the user: Plancton 0.6's keys unchanged, plus new ones. */
export interface Settings {
  updateconfig: number;
  image_expiration: number;
  main_sleep: number;
  grace_kill: number;
  grace_spawn: number;
  cpus_per_dock: number;
  max_docks: number | string;
  docks_per_loop: number;
  max_ttl: number;
  docker_image: string;
  docker_cmd: string | string[];
  docker_privileged: boolean;
  max_dock_mem: number;
  max_dock_swap: number;
  user_group: string;
  binds: string[];
  devices: unknown[];
  capabilities: string[];
  security_opts: string[];
  allow_host_power: string[];
  docker_no_new_privileges: boolean;
  docker_drop_net_raw: boolean;
  max_dock_pids: number;
  influxdb_url: string | string[] | null;
  influxdb_username: string;
  influxdb_password: string;
  influxdb_queue_size: number;
  influxdb_flush_interval: number;
  metrics_listen: string;
  metrics_token: string;
  stop_timeout: number;
  stop_signal: string;
  stop_command: string | string[];
  on_stop: string;
  schedule: string;
  schedule_timezone: string;
  schedule_vacate: boolean;
  cpu_policy: string;
  cgroup_parent: string;
  host_cgroup: string;
  overload_hysteresis: number;
  pause_max: number;
  mem_floor: number | string;
  psi_memory: number;
  memory_stop_timeout: number;
  backoff_base: number;
  backoff_max: number;
  no_work_uptime: number;
  overload_margin: number;
  pull_retry: number;
  registry_auth_file: string;
  registry_username: string;
  registry_password: string;
  docker_env: string[];
  docker_network: string;
  docker_socket: string;
  instance_id: string;
  hostname: string;
  host_proc: string;
  log_level: string;
  io_mechanism: string;
  io_owner_iops: number;
  io_psi: number;
  io_quiet: number;
  io_pilot_writes: number;
  io_throttle_bps: number;
  io_devices: string[];
  pools: unknown[];
}

/** Where a key came from in 0.6, for the reference table: `true` for keys 0.6 had. */
export const V06_KEYS: ReadonlySet<string> = new Set([
  'updateconfig',
  'image_expiration',
  'main_sleep',
  'grace_kill',
  'grace_spawn',
  'cpus_per_dock',
  'max_docks',
  'docks_per_loop',
  'max_ttl',
  'docker_image',
  'docker_cmd',
  'docker_privileged',
  'max_dock_mem',
  'max_dock_swap',
  'user_group',
  'binds',
  'devices',
  'capabilities',
  'security_opts',
  'influxdb_url',
]);

/** Keys read once at start; a reload that changes them is reported and needs a restart. */
export const START_ONLY_KEYS: ReadonlySet<string> = new Set([
  'docker_socket',
  'instance_id',
  'hostname',
  'host_proc',
  'metrics_listen',
  'cgroup_parent',
  'host_cgroup',
  'io_mechanism',
  'io_devices',
]);

/** The environment variable of a key: `PLANCTON_` and the key in capitals. */
export const envName = (key: string): string => `PLANCTON_${key.toUpperCase()}`;

type Def = { doc: string; format: string | string[]; default: unknown; sensitive?: boolean; nullable?: boolean };

const DEFS: Record<keyof Settings, Def> = {
  updateconfig: { doc: 'Seconds between re-reads of the configuration.', format: 'positive', default: 60 },
  image_expiration: { doc: 'Seconds after which the pilot image is pulled again.', format: 'seconds', default: 43200 },
  main_sleep: { doc: 'Seconds between control-loop iterations.', format: 'positive', default: 30 },
  grace_kill: {
    doc: "Seconds the host must stay over the pilots' CPU share (plus overload_margin) before the youngest pilot is removed.",
    format: 'seconds',
    default: 120,
  },
  grace_spawn: {
    doc: 'Seconds after the last overload removal during which no pilot is started.',
    format: 'seconds',
    default: 60,
  },
  cpus_per_dock: {
    doc: 'CPUs per pilot (may be fractional): CpuQuota = cpus_per_dock * 100000 over CpuPeriod 100000.',
    format: 'positive',
    default: 1,
  },
  max_docks: {
    doc: 'Maximum number of pilots: a number or an arithmetic expression over ncpus, ram_bytes, swap_bytes, max_dock_mem, max_dock_swap (with min, max, abs, floor, ceil, round, int).',
    format: 'number-or-expression',
    default: 'ncpus - 2',
  },
  docks_per_loop: {
    doc: 'Most pilots being started at the same time (0.6: per iteration); every pilot that fits starts in the same pass, this many at a time. 0: start none.',
    format: 'non-negative-int',
    default: 4,
  },
  max_ttl: { doc: 'Seconds a pilot may run before it is stopped and removed.', format: 'seconds', default: 43200 },
  docker_image: {
    doc: 'Pilot image, [registry[:port]/]repository[:tag][@sha256:digest], as Docker parses it.',
    format: 'image',
    default: 'busybox',
  },
  docker_cmd: {
    doc: 'Pilot command: a string (split on spaces) or a list.',
    format: 'command',
    default: '/bin/sleep 60',
  },
  docker_privileged: { doc: 'Run pilots privileged.', format: 'bool', default: false },
  max_dock_mem: {
    doc: 'Memory limit per pilot in bytes (0: no limit).',
    format: 'non-negative-int',
    default: 2000000000,
  },
  max_dock_swap: {
    doc: 'Swap per pilot in bytes (MemorySwap = max_dock_mem + max_dock_swap).',
    format: 'non-negative-int',
    default: 0,
  },
  user_group: {
    doc: "`uid:gid` (or user[:group]) the pilot runs as; empty: the image's own user (0.6 ran pilots as 0:0 by default: set it to keep that).",
    format: 'user',
    default: '',
  },
  binds: { doc: '`host:container[:options]` bind mounts.', format: 'string-list', default: [] },
  devices: {
    doc: '`host[:container[:perms]]` strings, or maps with PathOnHost, PathInContainer, CgroupPermissions.',
    format: 'device-list',
    default: [],
  },
  capabilities: {
    doc: '`SYS_ADMIN` or `+SYS_ADMIN` adds a capability, `-NET_RAW` drops one.',
    format: 'string-list',
    default: [],
  },
  security_opts: {
    doc: 'Security options; AppArmor ones are applied only where AppArmor is enabled.',
    format: 'string-list',
    default: [],
  },
  docker_no_new_privileges: {
    doc: "Run pilots with no-new-privileges: setuid programs and file capabilities cannot raise a pilot's privileges.",
    format: 'bool',
    default: true,
  },
  docker_drop_net_raw: {
    doc: 'Drop the NET_RAW capability from pilots (no raw sockets: no ARP or ICMP spoofing), unless capabilities adds it back.',
    format: 'bool',
    default: true,
  },
  max_dock_pids: {
    doc: 'Most processes and threads per pilot (PidsLimit), so that a fork bomb stays inside its pilot. 0: no limit.',
    format: 'non-negative-int',
    default: 4096,
  },
  allow_host_power: {
    doc: "Settings that give pilots power over the host (privileged, binds of /, /etc, the Docker socket..., capabilities beyond Docker's default, devices, host network, seccomp/AppArmor/SELinux off) which the config URL or PLANCTON_* variables may set, each exactly: docker_privileged, binds:/path, capabilities:SYS_ADMIN, devices:/dev/fuse, security_opts:seccomp=unconfined, docker_network:host. Only from the local configuration file or the command line. The local file may set such settings without it (with a warning).",
    format: 'host-power-list',
    default: [],
  },
  influxdb_url: {
    doc: 'InfluxDB 1.x URL or list, each http(s)://[user:pass@]host:port#database; prefix insecure_https: to skip TLS verification.',
    format: 'url-list',
    default: null,
    sensitive: true,
    nullable: true,
  },
  influxdb_username: { doc: 'InfluxDB user, for URLs that carry none.', format: 'text', default: '' },
  influxdb_password: {
    doc: 'InfluxDB password, for URLs that carry none. Never logged.',
    format: 'text',
    default: '',
    sensitive: true,
  },
  influxdb_queue_size: {
    doc: 'Points kept while InfluxDB is down or slow; past it the oldest are dropped and counted.',
    format: 'non-negative-int',
    default: 10000,
  },
  influxdb_flush_interval: { doc: 'Seconds between batched writes to InfluxDB.', format: 'positive', default: 10 },
  metrics_listen: {
    doc: 'host:port of the HTTP server with /metrics (Prometheus), /healthz and /status (empty: off). Read at start.',
    format: 'text',
    default: '',
  },
  metrics_token: {
    doc: 'Bearer token that /metrics and /status require (Authorization: Bearer <token>; /healthz stays open for probes); at least 16 characters, no spaces (empty: no token). Never logged.',
    format: 'token',
    default: '',
    sensitive: true,
  },
  stop_timeout: {
    doc: 'Seconds a removed pilot gets to go before SIGKILL: stop_command and stop_signal together.',
    format: 'seconds',
    default: 10,
  },
  stop_signal: {
    doc: 'Signal that asks a pilot to go (vacate) before SIGKILL after stop_timeout.',
    format: 'signal',
    default: 'SIGTERM',
  },
  stop_command: {
    doc: 'Command run inside a pilot before the stop signal, e.g. a peaceful shutdown (string split on spaces, or a list; empty: none); its time counts in stop_timeout.',
    format: 'optional-command',
    default: [],
  },
  cpu_policy: {
    doc: "owner: the host counts as busy by what its own processes use (total busy minus the pilots' use); total: 0.6's rule, total busy against the pilots' share.",
    format: ['owner', 'total'],
    default: 'owner',
  },
  cgroup_parent: {
    doc: 'Parent cgroup of the pilots, created with the lowest CPU weight (cpu.shares 2 / cpu.weight 1, cpu.idle) so the owner takes the CPU back at once (empty: off); a relative name such as plancton or plancton/pilots. Read at start.',
    format: 'cgroup-name',
    default: 'plancton',
  },
  host_cgroup: {
    doc: "Where the host's cgroup filesystem is mounted. Read at start.",
    format: 'non-empty',
    default: '/sys/fs/cgroup',
  },
  overload_hysteresis: {
    doc: 'Percent points under overload_margin the excess must fall before an overload is over.',
    format: 'non-negative',
    default: 5,
  },
  pause_max: {
    doc: 'Seconds a pilot may stay paused while the owner needs the CPU; then it is vacated (stopped gracefully). 0: never pause, vacate after grace_kill.',
    format: 'seconds',
    default: 120,
  },
  mem_floor: {
    doc: 'When MemAvailable (with the free pages in the kernel\'s per-CPU lists, which it leaves out) falls under this (bytes, or a percentage of the host\'s memory such as "10%"), pilots are removed, youngest first, to free memory. 0: off.',
    format: 'bytes-or-percent',
    default: '10%',
  },
  psi_memory: {
    doc: 'When PSI memory "some avg10" passes this percentage, pilots are removed, youngest first. 0: off.',
    format: 'non-negative',
    default: 20,
  },
  memory_stop_timeout: {
    doc: 'Seconds a pilot removed to free memory gets before SIGKILL.',
    format: 'seconds',
    default: 0,
  },
  backoff_base: {
    doc: 'Seconds of the first start backoff after pilots found no work (exit code 75, or an exit within no_work_uptime); doubles per round, with jitter.',
    format: 'seconds',
    default: 10,
  },
  backoff_max: { doc: 'Longest start backoff, seconds.', format: 'seconds', default: 600 },
  no_work_uptime: {
    doc: 'A pilot that ends within this many seconds of its start found no work. 0: only exit code 75 says so.',
    format: 'seconds',
    default: 10,
  },
  schedule: {
    doc: 'Cron pattern (minute hour day-of-month month day-of-week) of the minutes in which pilots may run, e.g. "* 19-23,0-7 * * 1-5" for weeknights; outside them Plancton drains (empty: always).',
    format: 'cron',
    default: '',
  },
  schedule_timezone: {
    doc: "Time zone of `schedule`, e.g. Europe/Rome (empty: the host's).",
    format: 'timezone',
    default: '',
  },
  schedule_vacate: {
    doc: 'Outside `schedule`, also vacate the running pilots (gracefully) instead of letting them finish.',
    format: 'bool',
    default: false,
  },
  on_stop: {
    doc: 'What SIGTERM (docker stop, compose down) does to the pilots: keep (they run on and are adopted at the next start), drain (start none, exit when the last one ends), remove (stop and remove them all, then exit). A second signal exits at once.',
    format: ['keep', 'drain', 'remove'],
    default: 'keep',
  },
  overload_margin: {
    doc: "Percent points the host may exceed the pilots' CPU share before counting as overloaded (0.6: 10); under cpu_policy owner at least half of one pilot's share.",
    format: 'non-negative',
    default: 10,
  },
  pull_retry: { doc: 'Seconds to wait after a failed image pull before trying again.', format: 'seconds', default: 60 },
  registry_auth_file: {
    doc: "File of registry credentials in Docker's config.json format (`auths` entries with a base64 `auth`, or `username` and `password`; no credsStore), read anew at every pull of the pilot image and used for pulls only (empty: none).",
    format: 'text',
    default: '',
  },
  registry_username: {
    doc: 'User for the registry of docker_image, with registry_password; takes precedence over registry_auth_file for that registry (empty: none).',
    format: 'text',
    default: '',
  },
  registry_password: {
    doc: 'Password (or token) of registry_username. Never logged or shown.',
    format: 'text',
    default: '',
    sensitive: true,
  },
  docker_env: { doc: 'Extra `NAME=value` environment entries for every pilot.', format: 'string-list', default: [] },
  docker_network: {
    doc: "Network mode of the pilots (empty: the engine's default bridge).",
    format: 'text',
    default: '',
  },
  docker_socket: {
    doc: 'Docker API socket path (empty: DOCKER_HOST, else /var/run/docker.sock). Read at start.',
    format: 'text',
    default: '',
  },
  instance_id: {
    doc: 'Identity of this Plancton on the engine; pilots carrying it are adopted after a restart (empty: the host name). Read at start.',
    format: 'text',
    default: '',
  },
  hostname: {
    doc: "Host name used in pilot hostnames and monitoring (empty: the host's own). Read at start.",
    format: 'text',
    default: '',
  },
  host_proc: {
    doc: "Where the host's /proc is mounted (/host/proc in the container image). Read at start.",
    format: 'non-empty',
    default: '/proc',
  },
  log_level: {
    doc: 'Least severe log level written: error, warn, info, verbose or debug.',
    format: ['error', 'warn', 'info', 'verbose', 'debug'],
    default: 'info',
  },
  io_mechanism: {
    doc: "How the pilots' I/O is cut back while the owner uses the disk: auto (detected at start, cheapest that reaches the pilots' writes: the lowest I/O weight, else a bandwidth limit, else pausing the writing pilots), weight, throttle, pause, or off. status shows what was chosen and why. Read at start.",
    format: ['auto', 'weight', 'throttle', 'pause', 'off'],
    default: 'auto',
  },
  io_owner_iops: {
    doc: "I/O requests per second of the host's own (the disks' less the pilots') at which the owner counts as using the disk and the pilots' I/O is cut back. 0: off.",
    format: 'non-negative',
    default: 100,
  },
  io_psi: {
    doc: 'When PSI io "some avg10" passes this percentage and the owner does any I/O, the owner counts as using the disk. The host-wide figure includes the pilots\' own stalls. 0: off.',
    format: 'non-negative',
    default: 0,
  },
  io_quiet: {
    doc: "Seconds the owner's I/O must stay under half of io_owner_iops (and io_psi) before the pilots get the disk back.",
    format: 'seconds',
    default: 3,
  },
  io_pilot_writes: {
    doc: "Bytes per second a pilot must write to be paused for the owner's I/O (io_mechanism pause); pilots that write less run on.",
    format: 'non-negative',
    default: 1048576,
  },
  io_throttle_bps: {
    doc: 'Bytes per second each pilot (cgroup v1) or all pilots (v2) may read and write while the owner uses the disk (io_mechanism throttle).',
    format: 'positive',
    default: 10485760,
  },
  io_devices: {
    doc: "Names of the disks the owner uses, e.g. [sda, nvme0n1]; any block device of /proc/diskstats may be named, a loop or device-mapper one too (empty: every physical disk in /proc/diskstats). On cgroup v1 Plancton switches the kernel's per-cgroup counting on for each of them at start (a no-op throttle rule). Read at start.",
    format: 'string-list',
    default: [],
  },
  pools: {
    doc: "Pools of pilots sharing the host, each a mapping with a name (lower case, the pilots' pool label), a share (weight of the pool in the idle CPU, default 1) and any of docker_image, docker_cmd, cpus_per_dock, max_docks, max_ttl, docker_env, binds, devices, capabilities, security_opts, docker_privileged, docker_no_new_privileges, docker_drop_net_raw, user_group, max_dock_mem, max_dock_swap, max_dock_pids, docker_network, stop_timeout, stop_signal, stop_command, backoff_base, backoff_max, no_work_uptime; a key a pool does not set is the top level's. The idle CPU is divided by share; a pool with no work (backing off) leaves its part to the others. Empty: one pool, default, of the top-level keys. In the environment: JSON.",
    format: 'pool-list',
    default: [],
  },
};

/** The documented keys in order, for the reference and `config show`. */
export const KEYS = Object.keys(DEFS) as Array<keyof Settings>;

/** Keys whose values are secrets (convict's `sensitive`): never printed, logged or reported. */
export const SENSITIVE_KEYS: ReadonlySet<keyof Settings> = new Set(KEYS.filter((k) => DEFS[k].sensitive === true));

/** Documentation of one key, for generated references. */
export function describeKey(key: keyof Settings): { doc: string; default: unknown; env: string; v06: boolean } {
  return { doc: DEFS[key].doc, default: DEFS[key].default, env: envName(key), v06: V06_KEYS.has(key) };
}

/** A fresh convict instance over `env` and `args`, with every key bound to `PLANCTON_<KEY>` and `--<key>`. */
export function newConfig(env: NodeJS.ProcessEnv, args: string[]): convict.Config<Settings> {
  registerFormats();
  const schema: Record<string, convict.SchemaObj> = {};
  for (const key of KEYS) {
    schema[key] = { ...DEFS[key], env: envName(key), arg: key } as convict.SchemaObj;
  }
  return convict<Settings>(schema as unknown as convict.Schema<Settings>, { env, args });
}
