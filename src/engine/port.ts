import type { Pilot } from '../core/types.ts';

/** Everything needed to create one pilot container; built by `pilot-spec.ts` from the config. */
export interface PilotSpec {
  readonly name: string;
  readonly hostname: string;
  readonly image: string;
  readonly cmd: readonly string[];
  /** `uid:gid`, or empty for the image's default user. */
  readonly user: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly env: readonly string[];
  readonly cpuPeriod: number;
  readonly cpuQuota: number;
  readonly memoryBytes: number;
  /** Memory plus swap, as Docker's MemorySwap. */
  readonly memorySwapBytes: number;
  readonly binds: readonly string[];
  readonly devices: readonly DeviceMapping[];
  readonly capAdd: readonly string[];
  readonly capDrop: readonly string[];
  readonly securityOpt: readonly string[];
  readonly privileged: boolean;
  /** Docker network mode; empty for the engine's default. */
  readonly networkMode: string;
  /** Most processes in the pilot (`--pids-limit`); 0 for no limit. */
  readonly pidsLimit: number;
  /** Parent cgroup (`--cgroup-parent`); empty for the engine's default. */
  readonly cgroupParent?: string | undefined;
}

export interface DeviceMapping {
  readonly pathOnHost: string;
  readonly pathInContainer: string;
  readonly cgroupPermissions: string;
}

/** How a removed pilot ended, read from the engine before it is removed. */
export interface PilotExit {
  readonly exitCode: number | undefined;
  readonly oomKilled: boolean;
  readonly startedAt: number | undefined;
  readonly finishedAt: number | undefined;
}

export interface EngineInfo {
  readonly hostName: string;
  /** `cgroupfs` or `systemd`. */
  readonly cgroupDriver: string;
  /** `1` or `2`. */
  readonly cgroupVersion: string;
}

/** An engine event about one of our pilots. */
export interface PilotEvent {
  readonly action: string;
  readonly id: string;
  readonly at: number;
}

/**
 * The one narrow port to the container engine. Exactly one implementation talks to Docker
 * (`docker-engine.ts`); the daemon and its tests see only this.
 * Every method is idempotent where the engine allows: stopping a stopped container
 * or removing a missing one succeeds.
 */
export interface EnginePort {
  /** Resolves when the engine answers. */
  ping(): Promise<void>;
  /**
   * The host the engine runs on: its name (inside a container, the way to learn the host's name
   * rather than the container's) and how it arranges cgroups.
   */
  info(): Promise<EngineInfo>;
  /** Every container, in any state, that carries this instance's labels (server-side filter). */
  listPilots(instance: string): Promise<Pilot[]>;
  /** Creates and starts a pilot; resolves to its container id. A failed start removes the container. */
  createAndStart(spec: PilotSpec): Promise<string>;
  /**
   * Stops a pilot gracefully: runs `command` in it first when given, then sends `signal`
   * (default SIGTERM), then SIGKILL after `timeoutSec`. A paused pilot is unpaused first.
   */
  stop(id: string, timeoutSec: number, opts?: { signal?: string; command?: readonly string[] }): Promise<void>;
  /** Freezes a pilot (docker pause); idempotent. */
  pause(id: string): Promise<void>;
  /** Thaws a paused pilot; idempotent. */
  unpause(id: string): Promise<void>;
  inspectExit(id: string): Promise<PilotExit | undefined>;
  remove(id: string): Promise<void>;
  imagePresent(image: string): Promise<boolean>;
  pull(image: string): Promise<void>;
  /**
   * Streams events of this instance's pilots until `signal` aborts; reconnects are the
   * caller's business. Resolves when the stream ends, rejects when it cannot be opened.
   */
  watch(instance: string, onEvent: (event: PilotEvent) => void, signal: AbortSignal): Promise<void>;
}
