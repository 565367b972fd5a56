import type { ConfigProblem } from '../../core/errors.ts';
import type { Settings } from './keys.ts';

/**
 * Bounds of every numeric key. convict's formats check the type; these check that the value
 * makes sense: a time must fit Node's timer (setTimeout silently turns anything over
 * 2^31-1 ms into 1 ms, so a huge interval would become a busy loop), a rate has a floor so
 * that no value turns the loop into a storm of engine calls, and a size stays an exact
 * integer. The Helm chart's values.schema.json is generated from the same table.
 */
export interface Bound {
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
  /** Values that are allowed although they are under `min` (e.g. 0 meaning "off"). */
  readonly also?: readonly number[];
  /** Why the minimum is what it is, said in the error. */
  readonly why?: string;
}

/** Node's timers hold at most 2^31-1 ms: the longest time in seconds any key may hold. */
export const TIMER_MAX_S = Math.floor((2 ** 31 - 1) / 1000);

/** Docker refuses a memory limit under 6 MiB. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

/** The kernel refuses a CFS quota under 1 ms: cpus_per_dock * 100000 us must be at least 1000 us. */
export const MIN_CPUS_PER_DOCK = 0.01;

const time = (min = 0, why?: string): Bound => ({ min, max: TIMER_MAX_S, ...(why ? { why } : {}) });
const wholeTime = (): Bound => ({ min: 0, max: TIMER_MAX_S, integer: true });
const percent: Bound = { min: 0, max: 100 };
const BYTES_MAX = Number.MAX_SAFE_INTEGER;

type NumericKey = {
  [K in keyof Settings]: Settings[K] extends number ? K : number extends Settings[K] ? K : never;
}[keyof Settings];

export const BOUNDS: Readonly<Partial<Record<NumericKey, Bound>>> = {
  updateconfig: time(1, 're-reading the configuration more often than every second only loads the host'),
  image_expiration: time(),
  main_sleep: time(0.05, 'a shorter pass interval turns the loop into a storm of engine calls'),
  grace_kill: time(),
  grace_spawn: time(),
  cpus_per_dock: {
    min: MIN_CPUS_PER_DOCK,
    max: 1024,
    why: 'CpuQuota = cpus_per_dock * 100000 us, and the kernel refuses a quota under 1000 us',
  },
  docks_per_loop: { min: 0, max: 1000, integer: true },
  max_ttl: time(),
  max_dock_mem: {
    min: MIN_MEMORY_BYTES,
    max: BYTES_MAX,
    integer: true,
    also: [0],
    why: 'Docker refuses a memory limit under 6 MiB (0: no limit)',
  },
  max_dock_swap: { min: 0, max: BYTES_MAX, integer: true },
  max_dock_pids: {
    min: 16,
    max: 4_194_304,
    integer: true,
    also: [0],
    why: 'a pilot needs a few processes to start at all (0: no limit)',
  },
  influxdb_queue_size: { min: 0, max: 10_000_000, integer: true },
  influxdb_flush_interval: time(0.5, 'flushing more often than twice a second only loads InfluxDB'),
  stop_timeout: wholeTime(),
  overload_hysteresis: percent,
  pause_max: time(),
  mem_floor: { min: 0, max: BYTES_MAX },
  psi_memory: percent,
  memory_stop_timeout: wholeTime(),
  backoff_base: time(),
  backoff_max: time(),
  no_work_uptime: time(),
  overload_margin: percent,
  pull_retry: time(),
};

function describe(b: Bound): string {
  const unit = b.max === TIMER_MAX_S ? ' seconds' : '';
  const kind = b.integer ? 'a whole number' : 'a number';
  const also = b.also?.length ? ` (or ${b.also.join(', ')})` : '';
  return `must be ${kind} from ${b.min} to ${b.max}${unit}${also}`;
}

/** One value against its bound: the reason it is refused, or undefined. */
export function outOfBounds(value: number, b: Bound): string | undefined {
  if (b.also?.includes(value)) return undefined;
  if (!Number.isFinite(value)) return `${describe(b)}, not ${value}`;
  if (b.integer && !Number.isInteger(value)) return `${describe(b)}, not ${value}`;
  if (value < b.min) return `${describe(b)}, not ${value}${b.why ? `: ${b.why}` : ''}`;
  if (value > b.max)
    return `${describe(b)}, not ${value}${b.max === TIMER_MAX_S ? ' (the longest time a timer can hold)' : ''}`;
  return undefined;
}

/** Adds a problem for every numeric key out of its bounds; `skip` holds keys already reported. */
export function checkBounds(s: Readonly<Settings>, skip: ReadonlySet<string>, problems: ConfigProblem[]): void {
  for (const [key, b] of Object.entries(BOUNDS) as Array<[NumericKey, Bound]>) {
    const value = s[key];
    if (skip.has(key) || typeof value !== 'number') continue;
    const why = outOfBounds(value, b);
    if (why) problems.push({ key, message: why });
  }
  if (!skip.has('max_dock_mem') && !skip.has('max_dock_swap') && s.max_dock_mem + s.max_dock_swap > BYTES_MAX) {
    problems.push({
      key: 'max_dock_swap',
      message: 'max_dock_mem + max_dock_swap is too large to be an exact number of bytes',
    });
  }
}
