/** An in-memory EnginePort for fast tests of the daemon shell (the real engine is tested in test/integration). */
import { poolOfLabels } from '../../src/engine/labels.ts';
import { EngineError } from '../../src/core/errors.ts';
import type { Pilot } from '../../src/core/decision.ts';
import type {
  CallOptions,
  EngineInfo,
  EnginePort,
  PilotEvent,
  PilotExit,
  PilotSpec,
  RunState,
} from '../../src/engine/port.ts';

type FakePilot = Pilot & { spec: PilotSpec };

export class FakeEngine implements EnginePort {
  readonly images = new Set<string>();
  readonly pilots = new Map<string, FakePilot>();
  readonly calls: string[] = [];
  /** When set, every call fails as an unreachable engine. */
  down = false;
  /** Images a pull can fetch (a registry's content). */
  readonly registry = new Set<string>();
  /** How long each start takes (ms), as a real engine's create and start do. */
  startDelayMs = 0;
  /** Calls (by their name in `calls`, e.g. `pull busybox`) that hang until their signal aborts: a hung engine. */
  readonly hangs = new Set<string>();
  /** Signals a pilot's main process exits on (SIGKILL always does). */
  readonly exitsOn = new Set<string>(['SIGTERM', 'SIGINT']);
  /** How long (in execRunning calls) a stop command keeps running. */
  execPolls = 0;
  /** Commands run by `exec`, by pilot id. */
  readonly execs: Array<{ id: string; cmd: readonly string[] }> = [];
  #n = 0;
  readonly #waiters = new Map<string, Array<() => void>>();

  /** Records the call; fails when the engine is down; hangs when asked to. */
  async #check(call: string, opts?: CallOptions): Promise<void> {
    this.calls.push(call);
    opts?.signal?.throwIfAborted();
    if (this.down) throw new EngineError(`${call}: connect ENOENT /var/run/docker.sock`, { unreachable: true });
    if (!this.hangs.has(call)) return;
    await new Promise<never>((_resolve, reject) => {
      const signal = opts?.signal;
      if (signal === undefined) return;
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  }

  async ping(opts?: CallOptions): Promise<void> {
    await this.#check('ping', opts);
  }

  async info(opts?: CallOptions): Promise<EngineInfo> {
    await this.#check('info', opts);
    return { hostName: 'fakehost', cgroupDriver: 'cgroupfs', cgroupVersion: '1' };
  }

  async pause(id: string, opts?: CallOptions): Promise<void> {
    await this.#check('pause', opts);
    this.#set(id, 'paused');
  }

  async unpause(id: string, opts?: CallOptions): Promise<void> {
    await this.#check('unpause', opts);
    this.#set(id, 'running');
  }

  #set(id: string, state: Pilot['state'], exitCode?: number): void {
    const p = this.pilots.get(id);
    if (!p) return;
    const ended = state === 'exited' || state === 'dead';
    this.pilots.set(id, { ...p, state, ...(ended ? { exitCode, finishedAt: Date.now() } : {}) });
    if (ended) for (const resolve of this.#waiters.get(id)?.splice(0) ?? []) resolve();
  }

  async containerIds(opts?: CallOptions): Promise<string[]> {
    await this.#check('list', opts);
    return [...this.pilots.keys()];
  }

  async listPilots(instance: string, opts?: CallOptions): Promise<Pilot[]> {
    await this.#check('list', opts);
    return [...this.pilots.values()].filter((p) => p.spec.labels['org.plancton.instance'] === instance);
  }

  async createAndStart(spec: PilotSpec, opts?: CallOptions): Promise<string> {
    await this.#check('start', opts);
    if (!this.images.has(spec.image)) throw new EngineError(`no such image ${spec.image}`, { statusCode: 404 });
    if (this.startDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.startDelayMs));
    const id = `c${String(++this.#n).padStart(63, '0')}`;
    const now = Date.now();
    this.pilots.set(id, {
      id,
      name: spec.name,
      pilotId: spec.labels['org.plancton.pilot-id'] ?? '',
      state: 'running',
      image: spec.image,
      configHash: '',
      createdAt: now,
      startedAt: now,
      ...poolOfLabels(spec.labels),
      spec,
    });
    return id;
  }

  async runState(id: string, opts?: CallOptions): Promise<RunState | undefined> {
    await this.#check('state', opts);
    const p = this.pilots.get(id);
    if (!p) return undefined;
    return p.state === 'paused' ? 'paused' : p.state === 'running' || p.state === 'restarting' ? 'running' : 'stopped';
  }

  async stop(id: string, _timeoutSec?: number, opts?: CallOptions): Promise<void> {
    await this.#check('stop', opts);
    this.#set(id, 'exited', 143);
  }

  async exec(id: string, cmd: readonly string[], opts?: CallOptions): Promise<string> {
    await this.#check('exec', opts);
    this.execs.push({ id, cmd });
    return `exec-${this.execs.length}`;
  }

  async execRunning(_execId: string, opts?: CallOptions): Promise<boolean> {
    await this.#check('exec-running', opts);
    return this.execPolls-- > 0;
  }

  async kill(id: string, signal: string, opts?: CallOptions): Promise<void> {
    await this.#check(`kill ${signal}`, opts);
    if (signal === 'SIGKILL') this.#set(id, 'exited', 137);
    else if (this.exitsOn.has(signal)) this.#set(id, 'exited', 0);
  }

  async wait(id: string, opts?: CallOptions & { withinMs?: number }): Promise<void> {
    await this.#check('wait', opts);
    const p = this.pilots.get(id);
    if (!p || p.state === 'exited' || p.state === 'dead') return;
    await new Promise<void>((resolve, reject) => {
      const list = this.#waiters.get(id) ?? [];
      list.push(resolve);
      this.#waiters.set(id, list);
      opts?.signal?.addEventListener('abort', () => reject(opts.signal?.reason as Error), { once: true });
    });
  }

  async inspectExit(id: string, opts?: CallOptions): Promise<PilotExit | undefined> {
    await this.#check('inspect', opts);
    const p = this.pilots.get(id);
    return p
      ? { exitCode: p.exitCode ?? 0, oomKilled: false, startedAt: p.startedAt, finishedAt: p.finishedAt ?? Date.now() }
      : undefined;
  }

  async remove(id: string, opts?: CallOptions): Promise<void> {
    await this.#check('remove', opts);
    this.pilots.delete(id);
  }

  async imagePresent(image: string, opts?: CallOptions): Promise<boolean> {
    await this.#check('image', opts);
    return this.images.has(image);
  }

  async pull(image: string, opts?: CallOptions): Promise<void> {
    await this.#check(`pull ${image}`, opts);
    if (!this.registry.has(image)) throw new EngineError(`pull ${image}: not found`, { statusCode: 404 });
    this.images.add(image);
  }

  watch(_instance: string, _onEvent: (e: PilotEvent) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }
}
