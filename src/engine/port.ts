import type { EngineInfo, PilotShape, PullSource } from '../core/pilot-shape.ts';
import type { Pilot } from '../core/decision.ts';

export type { DeviceMapping, EngineInfo } from '../core/pilot-shape.ts';

/**
 * Everything needed to create one pilot container; built by `pilot-spec.ts` from the config.
 * The fields the engine takes as they are come from PilotShape, so the two cannot drift apart.
 */
export interface PilotSpec extends Pick<
  PilotShape,
  'image' | 'cmd' | 'user' | 'binds' | 'devices' | 'capAdd' | 'capDrop' | 'securityOpt' | 'privileged'
> {
  readonly name: string;
  readonly hostname: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly env: readonly string[];
  readonly cpuPeriod: number;
  readonly cpuQuota: number;
  readonly memoryBytes: number;
  /** Memory plus swap, as Docker's MemorySwap. */
  readonly memorySwapBytes: number;
  /** Docker network mode; empty for the engine's default. */
  readonly networkMode: string;
  /** Most processes in the pilot (`--pids-limit`); 0 for no limit. */
  readonly pidsLimit: number;
  /** Parent cgroup (`--cgroup-parent`); empty for the engine's default. */
  readonly cgroupParent?: string | undefined;
}

/** How a removed pilot ended, read from the engine before it is removed. */
export interface PilotExit {
  readonly exitCode: number | undefined;
  readonly oomKilled: boolean;
  readonly startedAt: number | undefined;
  readonly finishedAt: number | undefined;
}

/** An engine event about one of our pilots. */
export interface PilotEvent {
  readonly action: string;
  readonly id: string;
  readonly at: number;
}

/** Every port call takes an optional AbortSignal: aborting gives up the call at once (a second stop signal). */
export interface CallOptions {
  readonly signal?: AbortSignal | undefined;
}

/** Where a container stands for a vacate: running, frozen, or not running any more. */
export type RunState = 'running' | 'paused' | 'stopped';

/**
 * The one narrow port to the container engine. Exactly one implementation talks to Docker
 * (`docker-engine.ts`); the daemon and its tests see only this. The port has primitives only: the
 * sequences built from them (vacating a pilot: command, signal, SIGKILL) are the daemon's.
 * Every method is idempotent where the engine allows: stopping a stopped container
 * or removing a missing one succeeds.
 */
export interface EnginePort {
  /** Resolves when the engine answers. */
  ping(opts?: CallOptions): Promise<void>;
  /**
   * The host the engine runs on: its name (inside a container, the way to learn the host's name
   * rather than the container's) and how it arranges cgroups.
   */
  info(opts?: CallOptions): Promise<EngineInfo>;
  /** The full ids of every container the engine knows, in any state, whoever made it. */
  containerIds(opts?: CallOptions): Promise<string[]>;
  /** Every container, in any state, that carries this instance's labels (server-side filter). */
  listPilots(instance: string, opts?: CallOptions): Promise<Pilot[]>;
  /** Creates and starts a pilot; resolves to its container id. A failed start removes the container. */
  createAndStart(spec: PilotSpec, opts?: CallOptions): Promise<string>;
  /** Whether a container runs, is paused or has stopped; undefined when it is gone. */
  runState(id: string, opts?: CallOptions): Promise<RunState | undefined>;
  /** The engine's own stop (`docker stop -t`): SIGTERM, then SIGKILL after `timeoutSec`; resolves once it has stopped. */
  stop(id: string, timeoutSec: number, opts?: CallOptions): Promise<void>;
  /** Starts `cmd` in the container, detached; resolves to the exec's id. */
  exec(id: string, cmd: readonly string[], opts?: CallOptions): Promise<string>;
  /** Whether an exec started by `exec` still runs. */
  execRunning(execId: string, opts?: CallOptions): Promise<boolean>;
  /** Sends `signal` to the container's main process; a container that is gone or not running is no error. */
  kill(id: string, signal: string, opts?: CallOptions): Promise<void>;
  /** Resolves once the container is not running (at once if it is not); `withinMs` sizes how long the call may stay idle. */
  wait(id: string, opts?: CallOptions & { readonly withinMs?: number }): Promise<void>;
  /** Freezes a pilot (docker pause); idempotent. */
  pause(id: string, opts?: CallOptions): Promise<void>;
  /** Thaws a paused pilot; idempotent. */
  unpause(id: string, opts?: CallOptions): Promise<void>;
  inspectExit(id: string, opts?: CallOptions): Promise<PilotExit | undefined>;
  remove(id: string, opts?: CallOptions): Promise<void>;
  imagePresent(image: string, opts?: CallOptions): Promise<boolean>;
  /** Pulls `image`; with `source`, from its registry with its credentials, and failures name both. */
  pull(image: string, opts?: CallOptions & { readonly source?: PullSource | undefined }): Promise<void>;
  /**
   * Streams events of this instance's pilots until `signal` aborts; reconnects are the
   * caller's business. Resolves when the stream ends, rejects when it cannot be opened.
   */
  watch(instance: string, onEvent: (event: PilotEvent) => void, signal: AbortSignal): Promise<void>;
}
