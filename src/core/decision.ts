/**
 * Values shared by the pure decision core and the shell around it.
 * Nothing here performs I/O; times are milliseconds since the epoch unless named otherwise.
 */
import type { PilotShape } from './pilot-shape.ts';
import type { IoOutcome, IoPolicy, IoReading, IoState } from './rules/io.ts';

/** Container lifecycle states as the engine reports them (Docker's `State.Status`). */
/** Every state a pilot container can be in, as the engine names them. */
export const PILOT_STATES = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'] as const;
export type PilotState = (typeof PILOT_STATES)[number];

/** A pilot container that carries this instance's ownership labels. */
export interface Pilot {
  /** Full engine container id. */
  readonly id: string;
  /** Container name without the leading slash, e.g. `plancton-worker-a1b2c3`. */
  readonly name: string;
  /** The random part shared by the name and the hostname. */
  readonly pilotId: string;
  readonly state: PilotState;
  readonly image: string;
  /** Hash of the pilot-shaping configuration the pilot was created with. */
  readonly configHash: string;
  readonly createdAt: number;
  /** When the pilot last started; undefined when it never started. */
  readonly startedAt?: number | undefined;
  /** For an exited pilot: when it ended and with which code. */
  readonly finishedAt?: number | undefined;
  readonly exitCode?: number | undefined;
  /** The pool the pilot was started for (its pool label); undefined: made before pools, it belongs to the first pool. */
  readonly pool?: string | undefined;
  /** How it asks to be vacated, as its pool said when it was made: used once its pool is gone from the configuration. */
  readonly stop?: Vacate | undefined;
}

/** Pressure stall information for one resource (`/proc/pressure/<resource>`). */
export interface PressureLine {
  readonly avg10: number;
  readonly avg60: number;
  readonly avg300: number;
  /** Total stall time in microseconds. */
  readonly total: number;
}

export interface Pressure {
  readonly some: PressureLine;
  /** Absent for `cpu` on older kernels. */
  readonly full?: PressureLine | undefined;
}

/** Memory figures from `/proc/meminfo`, in bytes. */
export interface MemorySample {
  readonly totalBytes: number;
  /** MemAvailable, plus the free pages in the kernel's per-CPU lists when they are known (`perCpuFreeBytes`). */
  readonly availableBytes: number;
  readonly swapTotalBytes: number;
  readonly swapFreeBytes: number;
  /** Free pages in the per-CPU lists, which MemAvailable leaves out (host/zoneinfo.ts); undefined: not read. */
  readonly perCpuFreeBytes?: number | undefined;
}

/** CPU busy shares over the interval between two `/proc/stat` readings, in percent (0-100). */
export interface CpuUsage {
  readonly busyPct: number;
  readonly perCpuBusyPct: readonly number[];
  /** Length of the measured interval in seconds (from the kernel's jiffies, not the wall clock). */
  readonly intervalSec: number;
}

/** One reading of the host. */
export interface HostSample {
  readonly at: number;
  readonly ncpus: number;
  /** Undefined on the first reading: a busy share needs two. */
  readonly cpu?: CpuUsage | undefined;
  readonly memory: MemorySample;
  readonly pressure?:
    | {
        readonly cpu?: Pressure | undefined;
        readonly memory?: Pressure | undefined;
        readonly io?: Pressure | undefined;
      }
    | undefined;
}

/** Operator controls, read from the run directory each iteration. */
export interface Controls {
  /** Start nothing new. */
  readonly drain: boolean;
  /** Drain, then exit once no pilot is left. */
  readonly drainStop: boolean;
  /** Remove every pilot, then exit. */
  readonly forceStop: boolean;
  /** Outside the `schedule` window: start nothing (and vacate, with `scheduleVacate`). */
  readonly outsideSchedule?: boolean | undefined;
}

/** What the shell knows of the pilot image. */
export interface ImageStatus {
  readonly name: string;
  readonly present: boolean;
  /** Image name of the last successful pull (or of the image found present at start). */
  readonly lastPulledName?: string | undefined;
  readonly lastPullOkAt?: number | undefined;
  readonly lastPullAttemptAt?: number | undefined;
}

/** The resolved numbers the policy works with (durations in milliseconds); each pool's own are in `pools`. */
export interface Policy {
  /** How many starts may be in flight at once (0.6: per iteration); 0 starts nothing. */
  readonly docksPerLoop: number;
  readonly graceKillMs: number;
  readonly graceSpawnMs: number;
  /** Percent points the host may exceed the pilots' CPU share before it counts as overloaded. */
  readonly overloadMarginPct: number;
  /** Share of the idle CPU that pilots may fill (0.6: 0.95). */
  readonly fillFactor: number;
  readonly imageExpirationMs: number;
  /** Minimum time between two failed pull attempts. */
  readonly pullRetryMs: number;
  /**
   * `owner`: overload is the owner's CPU (total busy minus what the pilots use) plus the pilots'
   * allotment exceeding the host; `total`: 0.6's rule, total busy over the pilots' share.
   */
  readonly cpuPolicy: 'owner' | 'total';
  /** Points below the margin the excess must fall before an overload counts as over. */
  readonly overloadHysteresisPct: number;
  /** How long a pilot may stay paused for the owner before it is vacated; 0: never pause, vacate after grace_kill. */
  readonly pauseMaxMs: number;
  /**
   * How many pilots one pass pauses or resumes for the CPU (`cpu_pace`): `proportional`, as many as
   * the owner's excess (or the room it left) takes, under the owner policy; `one`, one per pass
   * (0.6's pace, and always under the total policy).
   */
  readonly cpuPace: 'proportional' | 'one';
  /** How long the owner must have stayed calm before pilots paused for the CPU are resumed (`resume_cooldown`). */
  readonly resumeCooldownMs: number;
  /** MemAvailable under this many bytes frees memory by removing pilots; 0: off. */
  readonly memFloorBytes: number;
  /** PSI memory `some avg10` (percent) over this frees memory by removing pilots; 0: off. */
  readonly psiMemoryPct: number;
  /** Seconds a pilot removed to free memory gets before SIGKILL. */
  readonly memoryStopTimeoutSec: number;
  /** Outside the schedule window, vacate running pilots rather than let them finish. */
  readonly scheduleVacate?: boolean | undefined;
  /** The disk (rules/io.ts); undefined: not governed. */
  readonly io?: IoPolicy | undefined;
  /**
   * The pilot pools sharing the host (core/pools.ts), in the configuration's order, never empty: a
   * configuration without `pools` is one pool, `default`, of the top-level keys.
   */
  readonly pools: readonly PoolPolicy[];
}

/** One pool of pilots: its name (the pilots' pool label), its weight in the idle CPU, and its own values. */
export interface PoolPolicy {
  readonly name: string;
  /** Weight of the pool in the idle CPU (any positive number: 70 and 30, or 0.7 and 0.3). */
  readonly share: number;
  /** Its max_docks on this host. */
  readonly maxDocks: number;
  /** What its new pilots are made from (its `cpus_per_dock` among them: the CPUs each is counted for). */
  readonly shape: PilotShape;
  /** The hash of the pool's pilot settings, which its pilots' labels carry. */
  readonly configHash: string;
  readonly maxTtlMs: number;
  /** Seconds a removed pilot gets to go before SIGKILL: stop command and signal together (`stop_timeout`). */
  readonly stopTimeoutSec: number;
  /** The signal that asks a pilot to go (`stop_signal`). */
  readonly stopSignal: string;
  /** Run in a pilot before the signal (`stop_command`, already split); empty: none. */
  readonly stopCommand: readonly string[];
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** A pilot that ends sooner than this after its start found no work. */
  readonly noWorkUptimeMs: number;
}

/** The pilot contract's exit code for "no work here, back off". */
export const EXIT_NO_WORK = 75;

/** Memory of the policy between iterations; returned anew by every decision. */
export interface PolicyState {
  /** When the host went over the pilots' share, while it stays over. */
  readonly overSince?: number | undefined;
  readonly lastKillAt?: number | undefined;
  /** Whether memory is short (with hysteresis). */
  readonly memoryLow?: boolean | undefined;
  /** When each paused pilot was paused (by id). */
  readonly pausedAt?: Readonly<Record<string, number>> | undefined;
  /** Since when every reading found the owner calm enough to resume a pilot paused for the CPU, while some are. */
  readonly calmSince?: number | undefined;
  /** Pilots whose pause the engine could not carry out, and how many times in a row (by id). */
  readonly pauseFailures?: Readonly<Record<string, number>> | undefined;
  /** The owner's CPU (percent) from the last reading not disturbed by the daemon's own engine work, and when it was taken. */
  readonly owner?: { readonly pct: number; readonly at: number } | undefined;
  /** The I/O rule's memory (rules/io.ts). */
  readonly io?: IoState | undefined;
  /** Each pool's backoff and image book, by pool name (pools no longer configured are forgotten). */
  readonly pools?: Readonly<Record<string, PoolState>> | undefined;
  /**
   * Pilots removed to free memory whose memory may not show in MemAvailable yet (by id), set by
   * settle() after the removals: counted against a shortage until released (rules/memory.ts).
   */
  readonly memoryFreed?: Readonly<Record<string, FreedMemory>> | undefined;
}

/**
 * Start backoff after pilots that found no work: `since` is when it began (pilots started
 * after it are probes), no start before `until`.
 */
export interface Backoff {
  readonly level: number;
  readonly until: number;
  readonly since: number;
}

/** What a pool remembers between passes. */
export interface PoolState {
  readonly backoff?: Backoff | undefined;
  /** What is known of the pool's image's pulls (see settle.ts): kept here, not beside the state in the shell. */
  readonly image?: ImageBook | undefined;
}

/** A pilot removed to free memory: the memory it held (bytes, the pass's cgroup figure) and when its removal ended. */
export interface FreedMemory {
  readonly bytes: number;
  readonly at: number;
}

/** The pull bookkeeping of the pilot image: ImageStatus less what the engine says now. */
export type ImageBook = Omit<ImageStatus, 'name' | 'present'>;

/** How a pilot is asked to go: all of it resolved by the core, so the shell reads no setting. */
export interface Vacate {
  /** Seconds before SIGKILL, stop command and signal together. */
  readonly graceSec: number;
  readonly signal: string;
  /** Run in the pilot first; empty when none or when there is no time for it. */
  readonly command: readonly string[];
}

/** Why a pilot is removed. */
export type RemoveReason =
  | 'exited'
  | 'never-started'
  | 'dead'
  | 'ttl'
  | 'overload'
  | 'force-stop'
  | 'memory'
  | 'pause-timeout'
  | 'unfreezable'
  | 'schedule'
  | 'pool-removed';

export type Action =
  | { readonly kind: 'pull'; readonly image: string }
  | {
      readonly kind: 'start';
      readonly count: number;
      /** How many starts may be in flight at once (docks_per_loop, at most `count`, at least 1). */
      readonly concurrency: number;
      /** Each pilot's TTL from its start (ms): its deadline is its start time plus this. */
      readonly ttlMs: number;
      /** The stop_timeout the pilot is told of (PLANCTON_STOP_TIMEOUT). */
      readonly stopTimeoutSec: number;
      /** The pool the pilots are for (a configuration without pools is one, `default`). */
      readonly pool: string;
      /** How the pilots ask to be vacated (their pool's stop settings), stamped on them. */
      readonly vacate: Vacate;
      /** What the pilots are made from: their pool's shape. */
      readonly shape: PilotShape;
      /** The hash of their pool's pilot settings, for their labels. */
      readonly configHash: string;
    }
  | {
      readonly kind: 'remove';
      readonly id: string;
      readonly name: string;
      readonly reason: RemoveReason;
      /** True when the pilot may still run: stop it (stop command, signal, grace, SIGKILL) before removing. */
      readonly stopFirst: boolean;
      /** Grace before SIGKILL (the vacate's, repeated here for logs and tests). */
      readonly graceSec: number;
      /** How to vacate it when `stopFirst`. */
      readonly vacate: Vacate;
    }
  /** `for`: which resource the owner needs (`io`: the disk); absent: the CPU. */
  | { readonly kind: 'pause'; readonly id: string; readonly name: string; readonly for?: 'io' | undefined }
  | { readonly kind: 'unpause'; readonly id: string; readonly name: string; readonly for?: 'io' | undefined }
  | { readonly kind: 'exit'; readonly reason: 'drain-stop' | 'force-stop' };

/** The daemon's state as 0.6 reported it, plus `stopping`. */
export type DaemonStatus = 'active' | 'draining' | 'stopping' | 'waiting';

/** Why no pilot was started in an iteration, when none was. */
export type StartBlock =
  | 'draining'
  | 'outside-schedule'
  | 'stopping'
  | 'no-cpu-sample'
  | 'image-missing'
  | 'grace-spawn'
  | 'memory-pressure'
  | 'backoff'
  | 'paused-pilots'
  | 'max-docks'
  | 'no-idle-cpu'
  | 'pool-share';

/** Everything decide() needs; all of it plain values. */
export interface DecideInput {
  readonly now: number;
  readonly policy: Policy;
  readonly host: HostSample;
  readonly pilots: readonly Pilot[];
  readonly controls: Controls;
  /** Each pool's image, by pool name. */
  readonly images: Readonly<Record<string, ImageStatus>>;
  readonly state: PolicyState;
  /** CPU the pilots used over the last interval, in percent of the whole host (cgroup accounting); undefined when unknown. */
  readonly pilotsBusyPct?: number | undefined;
  /** CPU Plancton itself used over the last interval, in percent of the whole host: not the owner's either. */
  readonly selfBusyPct?: number | undefined;
  /**
   * Share (0-1) of the CPU reading's interval the daemon spent on its own engine work (the last
   * pass's starts, stops, pauses, pulls), which shows as host CPU outside the pilots; 0 or undefined: none.
   */
  readonly ownWorkShare?: number | undefined;
  /**
   * The owner's CPU (percent of the host) over the last half second, measured between passes by the
   * CPU watch with no engine work of the daemon in it; under the owner policy it counts when it is
   * higher than the pass's own figure (an owner who rose since the pass's interval began).
   */
  readonly recentOwnerPct?: number | undefined;
  /** Memory each pilot uses now, in bytes by container id (cgroup accounting, page cache included); a pilot absent: unknown. */
  readonly pilotMemoryBytes?: ReadonlyMap<string, number> | undefined;
  /** A random number in [0, 1) for the backoff's jitter. */
  readonly jitter?: number | undefined;
  /** The owner's and the pilots' I/O since the last pass; undefined: unknown. */
  readonly io?: IoReading | undefined;
}

/** The start arithmetic of one pool, for status and reporters. */
export interface PoolFit {
  readonly name: string;
  readonly share: number;
  /** Its pilots left after this pass's removals, and the CPUs they hold (cpus_per_dock each). */
  readonly running: number;
  readonly cpus: number;
  /** Its pilots that would fit in the idle CPU if it were alone, and its room under its max_docks. */
  readonly fitting: number;
  readonly room: number;
  /** Its max_docks on this host. */
  readonly maxDocks: number;
  readonly toStart: number;
  readonly blocked?: StartBlock | undefined;
  readonly backoffLevel: number;
}

/** What the CPU rule did with paused pilots in a pass, for status and settle(). */
export interface CpuGiveBack {
  /** The pace in force this pass: proportional only under the owner policy (give-back.ts). */
  readonly pace: 'proportional' | 'one';
  /** Pilots paused for the CPU after this pass (the disk's not counted). */
  readonly paused: number;
  /** When paused pilots may be resumed, the owner staying calm (calm since plus `resume_cooldown`); undefined: not calm now. */
  readonly resumeAt?: number | undefined;
  /**
   * The owner's CPU (percent) over which the host is over the margin with the pilots left running:
   * the CPU watch wakes the loop when the owner passes it (proportional pace only).
   */
  readonly wakeAbovePct?: number | undefined;
  /** Whether the next pass should come soon (within a second) to follow the owner: proportional pace with the host over the line or pilots paused. */
  readonly following: boolean;
}

export interface Decision {
  readonly state: PolicyState;
  /** The CPU rule's pauses and resumes. */
  readonly cpu?: CpuGiveBack | undefined;
  /** The I/O rule's outcome (the shell applies a throttle); undefined when the disk is not governed. */
  readonly io?: IoOutcome | undefined;
  readonly actions: readonly Action[];
  readonly status: DaemonStatus;
  /** The arithmetic behind the start count, for logs and status. */
  readonly fit: {
    readonly running: number;
    readonly fitting: number;
    readonly room: number;
    readonly toStart: number;
    readonly blocked?: StartBlock | undefined;
    /** CPU share (percent) the running pilots may use, and whether the host is over it. */
    readonly pilotSharePct: number;
    readonly overloaded: boolean;
    /** The host's own CPU use (busy minus pilots), percent; undefined without a reading. */
    readonly ownerBusyPct?: number | undefined;
    /** The reading was mostly the daemon's own engine work; ownerBusyPct is capped by the last clean one. */
    readonly ownerDisturbed?: boolean | undefined;
    readonly memoryLow?: boolean | undefined;
    readonly backoffLevel?: number | undefined;
    /** Each pool's part of it, in the configuration's order. */
    readonly pools?: readonly PoolFit[] | undefined;
  };
}
