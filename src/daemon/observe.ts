/**
 * The observe step of a pass: everything decide() is given that the shell has to read, read here
 * and handed on as plain values. The host comes first (without it the pass does nothing else);
 * then the engine (the pilots, which images it has), the pilots' own cgroups (CPU, memory, the
 * priority the kernel really gives them), the policy resolved for this host, and the disk's watch.
 */
import type { Pilot, Policy } from '../core/decision.ts';
import type { LoadedConfig } from '../config/load.ts';
import { resolvePolicy } from '../config/policy.ts';
import type { IoReading } from '../core/rules/io.ts';
import type { Identity } from '../core/pilot-shape.ts';
import type { EnginePort } from '../engine/port.ts';
import type { HostReading, PilotCpu } from '../host/observer.ts';
import type { PilotPriority } from '../host/pilot-priority.ts';
import { ioPolicy, type IoWatch } from './io-watch.ts';

/** What a pass reads the host through (the HostObserver; tests give their own). */
export interface Observer {
  host(now: number): Promise<HostReading>;
  pilots(
    ids: readonly string[],
    now: number,
    ncpus: number,
    opts?: { readonly dindIdle?: boolean | undefined },
  ): Promise<PilotCpu | undefined>;
}

/** What the observe step reads through, and the set-up it resolves the policy by. */
export interface ObserveDeps {
  readonly engine: EnginePort;
  readonly observer: Observer;
  readonly identity: Identity;
  /** The disk's watch: its policy joins the pass's, its reading goes to decide(); undefined: not governed. */
  readonly io?: IoWatch | undefined;
  /** Why there is no idle-priority parent, when one was asked for: then the kill-based CPU rule. */
  readonly idleProblem?: string | undefined;
}

/** What one pass observed: the values decide() is called on. */
export interface Observation {
  /** When the pass began. */
  readonly at: number;
  readonly reading: HostReading;
  /** The pilots this instance owns, as the engine lists them. */
  readonly pilots: readonly Pilot[];
  /** The pools' images the engine has now. */
  readonly present: ReadonlySet<string>;
  /** The pilots' CPU and memory from their cgroups. */
  readonly use?: PilotCpu | undefined;
  /** Every setting resolved for this host (the disk's too, when governed). */
  readonly policy: Policy;
  /** Why `max_docks` could not be evaluated on this host. */
  readonly maxDocksError?: string | undefined;
  /** The owner's and the pilots' I/O since the last pass (the disk's watch); undefined: not governed. */
  readonly io?: IoReading | undefined;
}

/** Reads what a pass decides by; keeps the pilots' priority as last read back from their cgroups. */
export class PassObserver {
  readonly #d: ObserveDeps;
  #priority: PilotPriority | undefined;

  constructor(deps: ObserveDeps) {
    this.#d = deps;
  }

  /** The host reading that opens the pass. */
  host(at: number): Promise<HostReading> {
    return this.#d.observer.host(at);
  }

  /** The engine, the pilots' cgroups, the policy and the disk, after the host `reading` taken at `at`. */
  async observe(config: LoadedConfig, at: number, reading: HostReading, signal: AbortSignal): Promise<Observation> {
    const { engine, identity, io } = this.#d;
    const { host } = reading;
    const pilots = await engine.listPilots(identity.instance, { signal });
    const present = new Set<string>();
    for (const image of new Set(config.pools.map((p) => p.pilot.image)))
      if (await engine.imagePresent(image, { signal })) present.add(image);
    const use = await this.#d.observer.pilots(
      pilots.map((p) => p.id),
      at,
      host.ncpus,
      { dindIdle: config.settings.dind_idle },
    );
    if (use?.priority) this.#priority = use.priority;
    // pilots NOT at idle priority, as the kernel says (read back from their own cgroups), asked for or not
    // (cgroup_parent empty): they take a fair share from a busy owner, whose own use then hides its
    // demand (about half of the host next to a busy pilot, never over the margin), so the owner rule
    // would never give the host back; the kill-based rule counts the host's total instead
    const notIdle = this.#d.idleProblem !== undefined || this.#priority?.enabled === false;
    const resolved = resolvePolicy(config, host, notIdle ? 'total' : undefined);
    const policy: Policy = io ? { ...resolved.policy, io: ioPolicy(config.settings, io.mechanism) } : resolved.policy;
    return { at, reading, pilots, present, use, policy, maxDocksError: resolved.maxDocksError, io: io?.take(pilots) };
  }
}
