import convict from 'convict';
import { MAX_DOCKS_NAMES } from '../expression/max-docks.ts';
import { MIN_CPUS_PER_DOCK, MIN_MEMORY_BYTES, percent, time, wholeTime, BYTES_MAX, type Bound } from './bounds.ts';
import { registerFormats } from './formats.ts';

/**
 * The one table of keys: Plancton 0.6's keys unchanged, plus new ones. Each entry says
 * everything about its key (doc, format, default, bounds, scope, whether 0.6 had it, whether it
 * shapes the pilot, whether it is a secret); the `Settings` type, the key sets, the bounds and the
 * convict schema are all derived from it. The environment variable is `PLANCTON_<KEY>` for every key.
 */
interface KeyDef {
  readonly doc: string;
  /** A convict format (formats.ts), or the values an enumeration allows. */
  readonly format: keyof FormatTypes | readonly string[];
  readonly default: unknown;
  /** `pool`: a pool may set it for itself; `start`: read once at start (a reload that changes it needs a restart); absent: the host's. */
  readonly scope?: 'pool' | 'start';
  /** Plancton 0.6 had this key, under this name. */
  readonly v06?: true;
  /** pilotShape() reads it (it can only run when convict accepted every such key). */
  readonly pilot?: true;
  /** The range a number must be in (bounds.ts). */
  readonly bounds?: Bound;
  /** A secret (convict's `sensitive`): never printed, logged or reported. */
  readonly sensitive?: true;
  /** `null` is a value of it. */
  readonly nullable?: true;
}

/** The value each format holds once convict accepted it. */
interface FormatTypes {
  positive: number;
  seconds: number;
  'non-negative': number;
  'non-negative-int': number;
  'number-or-expression': number | string;
  'bytes-or-percent': number | string;
  bool: boolean;
  image: string;
  user: string;
  text: string;
  token: string;
  signal: string;
  'cgroup-name': string;
  'non-empty': string;
  cron: string;
  timezone: string;
  command: string | string[];
  'optional-command': string | string[];
  'string-list': string[];
  'host-power-list': string[];
  'url-list': string | string[];
  'device-list': unknown[];
  'pool-list': unknown[];
}

type ValueOf<D extends KeyDef> =
  | (D['format'] extends keyof FormatTypes ? FormatTypes[D['format']] : string)
  | (D extends { nullable: true } ? null : never);

/** The environment variable of a key: `PLANCTON_` and the key in capitals. */
export const envName = (key: string): string => `PLANCTON_${key.toUpperCase()}`;

export const KEY_TABLE = {
  updateconfig: {
    doc: 'Seconds between re-reads of the configuration.',
    format: 'positive',
    default: 60,
    v06: true,
    bounds: time(1, 're-reading the configuration more often than every second only loads the host'),
  },
  image_expiration: {
    doc: 'Seconds after which the pilot image is pulled again.',
    format: 'seconds',
    default: 43200,
    v06: true,
    bounds: time(),
  },
  main_sleep: {
    doc: 'Seconds between control-loop iterations.',
    format: 'positive',
    default: 30,
    v06: true,
    bounds: time(0.05, 'a shorter pass interval turns the loop into a storm of engine calls'),
  },
  grace_kill: {
    doc: "Seconds the host must stay over the pilots' CPU share (plus overload_margin) before the youngest pilot is removed.",
    format: 'seconds',
    default: 120,
    v06: true,
    bounds: time(),
  },
  grace_spawn: {
    doc: 'Seconds after the last overload removal during which no pilot is started.',
    format: 'seconds',
    default: 60,
    v06: true,
    bounds: time(),
  },
  cpus_per_dock: {
    doc: 'CPUs per pilot (may be fractional): CpuQuota = cpus_per_dock * 100000 over CpuPeriod 100000.',
    format: 'positive',
    default: 1,
    scope: 'pool',
    v06: true,
    pilot: true,
    bounds: {
      min: MIN_CPUS_PER_DOCK,
      max: 1024,
      why: 'CpuQuota = cpus_per_dock * 100000 us, and the kernel refuses a quota under 1000 us',
    },
  },
  max_docks: {
    doc: `Maximum number of pilots: a number or an arithmetic expression over ${MAX_DOCKS_NAMES.join(', ')} (with min, max, abs, floor, ceil, round, int).`,
    format: 'number-or-expression',
    default: 'ncpus - 2',
    scope: 'pool',
    v06: true,
  },
  docks_per_loop: {
    doc: 'Most pilots being started at the same time (0.6: per iteration); every pilot that fits starts in the same pass, this many at a time. 0: start none.',
    format: 'non-negative-int',
    default: 4,
    v06: true,
    bounds: { min: 0, max: 1000, integer: true },
  },
  max_ttl: {
    doc: 'Seconds a pilot may run before it is stopped and removed.',
    format: 'seconds',
    default: 43200,
    scope: 'pool',
    v06: true,
    bounds: time(),
  },
  docker_image: {
    doc: 'Pilot image, [registry[:port]/]repository[:tag][@sha256:digest], as Docker parses it.',
    format: 'image',
    default: 'busybox',
    scope: 'pool',
    v06: true,
    pilot: true,
  },
  docker_cmd: {
    doc: 'Pilot command: a string (split on spaces) or a list.',
    format: 'command',
    default: '/bin/sleep 60',
    scope: 'pool',
    v06: true,
    pilot: true,
  },
  docker_privileged: {
    doc: 'Run pilots privileged.',
    format: 'bool',
    default: false,
    scope: 'pool',
    v06: true,
    pilot: true,
  },
  max_dock_mem: {
    doc: 'Memory limit per pilot in bytes (0: no limit).',
    format: 'non-negative-int',
    default: 2000000000,
    scope: 'pool',
    v06: true,
    pilot: true,
    bounds: {
      min: MIN_MEMORY_BYTES,
      max: BYTES_MAX,
      integer: true,
      also: [0],
      why: 'Docker refuses a memory limit under 6 MiB (0: no limit)',
    },
  },
  max_dock_swap: {
    doc: 'Swap per pilot in bytes (MemorySwap = max_dock_mem + max_dock_swap).',
    format: 'non-negative-int',
    default: 0,
    scope: 'pool',
    v06: true,
    pilot: true,
    bounds: { min: 0, max: BYTES_MAX, integer: true },
  },
  user_group: {
    doc: "`uid:gid` (or user[:group]) the pilot runs as; empty: the image's own user (0.6 ran pilots as 0:0 by default: set it to keep that).",
    format: 'user',
    default: '',
    scope: 'pool',
    v06: true,
    pilot: true,
  },
  binds: {
    doc: '`host:container[:options]` bind mounts.',
    format: 'string-list',
    default: [],
    scope: 'pool',
    v06: true,
    pilot: true,
  },
  devices: {
    doc: '`host[:container[:perms]]` strings, or maps with PathOnHost, PathInContainer, CgroupPermissions.',
    format: 'device-list',
    default: [],
    scope: 'pool',
    v06: true,
    pilot: true,
  },
  capabilities: {
    doc: '`SYS_ADMIN` or `+SYS_ADMIN` adds a capability, `-NET_RAW` drops one.',
    format: 'string-list',
    default: [],
    scope: 'pool',
    v06: true,
    pilot: true,
  },
  security_opts: {
    doc: 'Security options; AppArmor ones are applied only where AppArmor is enabled.',
    format: 'string-list',
    default: [],
    scope: 'pool',
    v06: true,
    pilot: true,
  },
  docker_no_new_privileges: {
    doc: "Run pilots with no-new-privileges: setuid programs and file capabilities cannot raise a pilot's privileges.",
    format: 'bool',
    default: true,
    scope: 'pool',
    pilot: true,
  },
  docker_drop_net_raw: {
    doc: 'Drop the NET_RAW capability from pilots (no raw sockets: no ARP or ICMP spoofing), unless capabilities adds it back.',
    format: 'bool',
    default: true,
    scope: 'pool',
    pilot: true,
  },
  max_dock_pids: {
    doc: 'Most processes and threads per pilot (PidsLimit), so that a fork bomb stays inside its pilot. 0: no limit.',
    format: 'non-negative-int',
    default: 4096,
    scope: 'pool',
    pilot: true,
    bounds: {
      min: 16,
      max: 4_194_304,
      integer: true,
      also: [0],
      why: 'a pilot needs a few processes to start at all (0: no limit)',
    },
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
    v06: true,
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
    bounds: { min: 0, max: 10_000_000, integer: true },
  },
  influxdb_flush_interval: {
    doc: 'Seconds between batched writes to InfluxDB.',
    format: 'positive',
    default: 10,
    bounds: time(0.5, 'flushing more often than twice a second only loads InfluxDB'),
  },
  metrics_listen: {
    doc: 'host:port of the HTTP server with /metrics (Prometheus), /healthz and /status (empty: off). Read at start.',
    format: 'text',
    default: '',
    scope: 'start',
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
    scope: 'pool',
    bounds: wholeTime(),
  },
  stop_signal: {
    doc: 'Signal that asks a pilot to go (vacate) before SIGKILL after stop_timeout.',
    format: 'signal',
    default: 'SIGTERM',
    scope: 'pool',
  },
  stop_command: {
    doc: 'Command run inside a pilot before the stop signal, e.g. a peaceful shutdown (string split on spaces, or a list; empty: none); its time counts in stop_timeout.',
    format: 'optional-command',
    default: [],
    scope: 'pool',
  },
  cpu_policy: {
    doc: "owner: the host counts as busy by what its own processes use (total busy minus the pilots' use); total: 0.6's rule, total busy against the pilots' share. owner needs the pilots at idle priority: while the kernel says they are NOT (read back from their cgroups every pass: cgroup_parent empty or not set up, a reset knob, a nested engine), a busy pilot takes a fair share from a busy owner and hides its demand, so total applies.",
    format: ['owner', 'total'],
    default: 'owner',
  },
  cgroup_parent: {
    doc: 'Parent cgroup of the pilots, created with the lowest CPU weight (cpu.shares 2 / cpu.weight 1, cpu.idle) so the owner takes the CPU back at once (empty: off); a relative name such as plancton or plancton/pilots. Read at start.',
    format: 'cgroup-name',
    default: 'plancton',
    scope: 'start',
  },
  dind_idle: {
    doc: "With a Docker engine in a container (the chart's dind mode), keep cpu.idle=1 on that engine's own container cgroup, the highest group that holds nothing but the engine and its pilots (found from the pilots' cgroup_parent nested in it), so that the whole container yields to its siblings; checked every pass and set again when found reset. Only cpu.idle is written, never the weight, quota or memory the container's runtime (the kubelet) sets. The groups above the container keep their weights, so the pilots are still NOT idle at the host's top level and the kill-based CPU rule applies; an engine that sees the host's cgroup root (the chart's top-level placement) puts them in the idle parent instead, and this key has nothing to do. Needs Linux 5.15 or later; false: leave the engine's cgroup alone.",
    format: 'bool',
    default: true,
  },
  host_cgroup: {
    doc: "Where the host's cgroup filesystem is mounted. Read at start.",
    format: 'non-empty',
    default: '/sys/fs/cgroup',
    scope: 'start',
  },
  overload_hysteresis: {
    doc: 'Percent points under overload_margin the excess must fall before an overload is over.',
    format: 'non-negative',
    default: 5,
    bounds: percent,
  },
  pause_max: {
    doc: 'Seconds a pilot may stay paused while the owner needs the CPU; then it is vacated (stopped gracefully). 0: never pause, vacate after grace_kill.',
    format: 'seconds',
    default: 120,
    bounds: time(),
  },
  cpu_pace: {
    doc: "How many pilots one pass pauses when the owner needs the CPU, and resumes when it is calm again. proportional: as many as the owner's excess takes (youngest first), and as many as fit back under the calm line; passes then follow every half second while pilots are paused or the host is over the line, and an owner rising between passes is seen within a quarter second. one: one per pass, at main_sleep (0.6's pace). The total cpu_policy always goes one per pass.",
    format: ['proportional', 'one'],
    default: 'proportional',
  },
  resume_cooldown: {
    doc: 'Seconds the owner must stay calm (no overload, room for a paused pilot) before pilots paused for the CPU are resumed; a new burst of the owner starts the count again. 0: resume at the first calm pass. The default comes from a sweep with an owner working in bursts (docs/benchmarks.md): 0 and 5 s cost its job 4.8% and 1.8% against idle priority alone, 15 and 30 s about 1%, and 30 s leaves idle CPU unused for longer.',
    format: 'seconds',
    default: 15,
    bounds: time(),
  },
  mem_floor: {
    doc: 'When MemAvailable (with the free pages in the kernel\'s per-CPU lists, which it leaves out) falls under this (bytes, or a percentage of the host\'s memory such as "10%"), pilots are removed, youngest first, to free memory. 0: off.',
    format: 'bytes-or-percent',
    default: '10%',
    bounds: { min: 0, max: BYTES_MAX },
  },
  psi_memory: {
    doc: 'When PSI memory "some avg10" passes this percentage, pilots are removed, youngest first. 0: off.',
    format: 'non-negative',
    default: 20,
    bounds: percent,
  },
  memory_stop_timeout: {
    doc: 'Seconds a pilot removed to free memory gets before SIGKILL.',
    format: 'seconds',
    default: 0,
    bounds: wholeTime(),
  },
  backoff_base: {
    doc: 'Seconds of the first start backoff after pilots found no work (exit code 75, or an exit within no_work_uptime); doubles per round, with jitter.',
    format: 'seconds',
    default: 10,
    scope: 'pool',
    bounds: time(),
  },
  backoff_max: {
    doc: 'Longest start backoff, seconds.',
    format: 'seconds',
    default: 600,
    scope: 'pool',
    bounds: time(),
  },
  no_work_uptime: {
    doc: 'A pilot that ends within this many seconds of its start found no work. 0: only exit code 75 says so.',
    format: 'seconds',
    default: 10,
    scope: 'pool',
    bounds: time(),
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
    bounds: percent,
  },
  pull_retry: {
    doc: 'Seconds to wait after a failed image pull before trying again.',
    format: 'seconds',
    default: 60,
    bounds: time(),
  },
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
  docker_env: {
    doc: 'Extra `NAME=value` environment entries for every pilot.',
    format: 'string-list',
    default: [],
    scope: 'pool',
    pilot: true,
  },
  docker_network: {
    doc: "Network mode of the pilots (empty: the engine's default bridge).",
    format: 'text',
    default: '',
    scope: 'pool',
    pilot: true,
  },
  docker_socket: {
    doc: 'Docker API socket path (empty: DOCKER_HOST, else /var/run/docker.sock). Read at start.',
    format: 'text',
    default: '',
    scope: 'start',
  },
  instance_id: {
    doc: 'Identity of this Plancton on the engine; pilots carrying it are adopted after a restart (empty: the host name). Read at start.',
    format: 'text',
    default: '',
    scope: 'start',
  },
  hostname: {
    doc: "Host name used in pilot hostnames and monitoring (empty: the host's own). Read at start.",
    format: 'text',
    default: '',
    scope: 'start',
  },
  host_proc: {
    doc: "Where the host's /proc is mounted (/host/proc in the container image). Read at start.",
    format: 'non-empty',
    default: '/proc',
    scope: 'start',
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
    scope: 'start',
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
    scope: 'start',
  },
  pools: {
    doc: "Pools of pilots sharing the host, each a mapping with a name (lower case, the pilots' pool label), a share (weight of the pool in the idle CPU, default 1) and any of {pool keys}; a key a pool does not set is the top level's. The idle CPU is divided by share; a pool with no work (backing off) leaves its part to the others. Empty: one pool, default, of the top-level keys. In the environment: JSON.",
    format: 'pool-list',
    default: [],
  },
} as const satisfies Record<string, KeyDef>;

/** The configuration as written by the user, derived from the table. */
export type Settings = { -readonly [K in keyof typeof KEY_TABLE]: ValueOf<(typeof KEY_TABLE)[K]> };

type Key = keyof Settings;
const defOf = (key: Key): KeyDef => KEY_TABLE[key];

/** The documented keys in order, for the reference and `config show`. */
export const KEYS = Object.keys(KEY_TABLE) as Key[];

const keysWhere = (test: (d: KeyDef) => boolean): Key[] => KEYS.filter((k) => test(defOf(k)));

/** Keys whose values are secrets (convict's `sensitive`): never printed, logged or reported. */
export const SENSITIVE_KEYS: ReadonlySet<Key> = new Set(keysWhere((d) => d.sensitive === true));

/** Keys Plancton 0.6 had, for the reference table. */
export const V06_KEYS: ReadonlySet<Key> = new Set(keysWhere((d) => d.v06 === true));

/** Keys read once at start; a reload that changes them is reported and needs a restart. */
export const START_ONLY_KEYS: ReadonlySet<Key> = new Set(keysWhere((d) => d.scope === 'start'));

/** The keys a pool may set for itself; every other key is the host's. */
export const POOL_KEYS: readonly Key[] = keysWhere((d) => d.scope === 'pool');

/** Keys that pilotShape() reads. */
export const PILOT_KEYS: readonly Key[] = keysWhere((d) => d.pilot === true);

/** The keys whose value is a number, or may be. */
export type NumericKey = {
  [K in Key]: Settings[K] extends number ? K : number extends Settings[K] ? K : never;
}[Key];

/** Bounds of every numeric key that has them (bounds.ts says why they are what they are). */
export const BOUNDS: Readonly<Partial<Record<NumericKey, Bound>>> = Object.fromEntries(
  KEYS.flatMap((k) => (defOf(k).bounds ? [[k, defOf(k).bounds]] : [])),
);

/** A key's doc; `{pool keys}` in it stands for the keys a pool may set, from the table. */
function docOf(key: Key): string {
  return defOf(key).doc.replace('{pool keys}', POOL_KEYS.join(', '));
}

/** Documentation of one key, for generated references. */
export function describeKey(key: Key): { doc: string; default: unknown; env: string; v06: boolean } {
  const d = defOf(key);
  return { doc: docOf(key), default: d.default, env: envName(key), v06: d.v06 === true };
}

/** A fresh convict instance over `env` and `args`, with every key bound to `PLANCTON_<KEY>` and `--<key>`. */
export function newConfig(env: NodeJS.ProcessEnv, args: string[]): convict.Config<Settings> {
  registerFormats();
  const schema: Record<string, convict.SchemaObj> = {};
  for (const key of KEYS) {
    const { format, default: value, sensitive, nullable } = defOf(key);
    schema[key] = {
      doc: docOf(key),
      format,
      default: value,
      ...(sensitive ? { sensitive } : {}),
      ...(nullable ? { nullable } : {}),
      env: envName(key),
      arg: key,
    } as convict.SchemaObj;
  }
  return convict<Settings>(schema as unknown as convict.Schema<Settings>, { env, args });
}
