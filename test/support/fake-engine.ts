/** An in-memory EnginePort for fast tests of the daemon shell (the real engine is tested in test/integration). */
import { EngineError } from '../../src/core/errors.ts';
import type { Pilot } from '../../src/core/types.ts';
import type { EngineInfo, EnginePort, PilotEvent, PilotExit, PilotSpec } from '../../src/engine/port.ts';

export class FakeEngine implements EnginePort {
  readonly images = new Set<string>();
  readonly pilots = new Map<string, Pilot & { spec: PilotSpec }>();
  readonly calls: string[] = [];
  /** When set, every call fails as an unreachable engine. */
  down = false;
  /** Images a pull can fetch (a registry's content). */
  readonly registry = new Set<string>();
  /** How long each start takes (ms), as a real engine's create and start do. */
  startDelayMs = 0;
  #n = 0;

  #check(call: string): void {
    this.calls.push(call);
    if (this.down) throw new EngineError(`${call}: connect ENOENT /var/run/docker.sock`, { unreachable: true });
  }

  ping(): Promise<void> {
    this.#check('ping');
    return Promise.resolve();
  }

  info(): Promise<EngineInfo> {
    this.#check('info');
    return Promise.resolve({ hostName: 'fakehost', cgroupDriver: 'cgroupfs', cgroupVersion: '1' });
  }

  pause(id: string): Promise<void> {
    this.#check('pause');
    this.#set(id, 'paused');
    return Promise.resolve();
  }

  unpause(id: string): Promise<void> {
    this.#check('unpause');
    this.#set(id, 'running');
    return Promise.resolve();
  }

  #set(id: string, state: Pilot['state']): void {
    const p = this.pilots.get(id);
    if (p) this.pilots.set(id, { ...p, state });
  }

  listPilots(instance: string): Promise<Pilot[]> {
    this.#check('list');
    return Promise.resolve([...this.pilots.values()].filter((p) => p.spec.labels['org.plancton.instance'] === instance));
  }

  async createAndStart(spec: PilotSpec): Promise<string> {
    this.#check('start');
    if (!this.images.has(spec.image)) throw new EngineError(`no such image ${spec.image}`, { statusCode: 404 });
    if (this.startDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.startDelayMs));
    const id = `c${String(++this.#n).padStart(63, '0')}`;
    const now = Date.now();
    this.pilots.set(id, { id, name: spec.name, pilotId: spec.labels['org.plancton.pilot-id'] ?? '', state: 'running', image: spec.image, configHash: '', createdAt: now, startedAt: now, spec });
    return id;
  }

  stop(id: string): Promise<void> {
    this.#check('stop');
    this.#set(id, 'exited');
    return Promise.resolve();
  }

  inspectExit(id: string): Promise<PilotExit | undefined> {
    this.#check('inspect');
    const p = this.pilots.get(id);
    return Promise.resolve(p ? { exitCode: 0, oomKilled: false, startedAt: p.startedAt, finishedAt: Date.now() } : undefined);
  }

  remove(id: string): Promise<void> {
    this.#check('remove');
    this.pilots.delete(id);
    return Promise.resolve();
  }

  imagePresent(image: string): Promise<boolean> {
    this.#check('image');
    return Promise.resolve(this.images.has(image));
  }

  pull(image: string): Promise<void> {
    this.#check(`pull ${image}`);
    if (!this.registry.has(image)) return Promise.reject(new EngineError(`pull ${image}: not found`, { statusCode: 404 }));
    this.images.add(image);
    return Promise.resolve();
  }

  watch(_instance: string, _onEvent: (e: PilotEvent) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }
}
