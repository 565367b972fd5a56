import type Dockerode from 'dockerode';
import type { Readable } from 'node:stream';

import { EngineError } from '../core/errors.ts';
import { PILOT_STATES, type Pilot, type PilotState } from '../core/decision.ts';
import { detailOf, engineError, short, statusOf } from './engine-errors.ts';
import { errorMessageOf, readJsonLines, toPilotEvent } from './json-stream.ts';
import { composeLabelsCleared, isOwned, LABELS, ownedFilter, poolOfLabels } from './labels.ts';
import type { PullSource } from '../core/pilot-shape.ts';
import type { CallOptions, EngineInfo, EnginePort, PilotEvent, PilotExit, PilotSpec, RunState } from './port.ts';
import { loadDockerode } from './dockerode-loader.ts';
import { InspectCache } from './inspect-cache.ts';

const Docker = loadDockerode();
type Docker = Dockerode;

/** How to reach the engine; every field is optional and falls back to dockerode's defaults (which honour DOCKER_HOST). */
export interface DockerEngineOptions {
  /** Unix socket of the engine, e.g. `/var/run/docker.sock`. */
  readonly socketPath?: string | undefined;
  /** Engine address as DOCKER_HOST spells it: `unix:///path`, `tcp://host:2375`, `http(s)://host:port`. */
  readonly host?: string | undefined;
  /**
   * Idle time-out of one request. Bounds every call, so a hung engine fails the call
   * instead of hanging the daemon; `stop` adds its grace time on top.
   */
  readonly timeoutMs?: number | undefined;
}

/** Default request time-out: generous for a loaded engine, short enough to notice a hung one. */
export const DEFAULT_ENGINE_TIMEOUT_MS = 60_000;

/** dockerode's ping and info take options (an abort signal) that @types/dockerode does not declare. */
interface Abortable {
  ping(opts: { abortSignal?: AbortSignal | undefined }): Promise<unknown>;
  info(opts: { abortSignal?: AbortSignal | undefined }): Promise<unknown>;
}

/** Options docker-modem understands but @types/dockerode does not declare. */
type ModemOptions = Dockerode.DockerOptions & { connectionTimeout?: number };

const STATES: ReadonlySet<string> = new Set<PilotState>(PILOT_STATES);

/**
 * The only implementation of {@link EnginePort} that talks to Docker, and the only module that
 * imports dockerode. Every error it throws is an {@link EngineError}.
 */
export class DockerEngine implements EnginePort {
  readonly #base: ModemOptions;
  readonly #timeoutMs: number;
  /** One client per idle time-out: docker-modem fixes the time-out per client, and `stop` and `watch` need others. */
  readonly #clients = new Map<string, Docker>();
  /** Per instance: what inspecting its pilots said, kept while its event stream is open. */
  readonly #inspected = new Map<string, InspectCache>();

  constructor(options: DockerEngineOptions = {}) {
    this.#base = modemAddress(options);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_ENGINE_TIMEOUT_MS;
  }

  async ping(opts: CallOptions = {}): Promise<void> {
    await this.#call('ping engine', opts, () => (this.#client() as Abortable).ping({ abortSignal: opts.signal }));
  }

  async info(opts: CallOptions = {}): Promise<EngineInfo> {
    const info = (await this.#call('read engine info', opts, () =>
      (this.#client() as Abortable).info({ abortSignal: opts.signal }),
    )) as {
      Name?: unknown;
      CgroupDriver?: unknown;
      CgroupVersion?: unknown;
    };
    if (typeof info.Name !== 'string' || info.Name === '')
      throw new EngineError('the engine did not say its host name');
    return {
      hostName: info.Name,
      cgroupDriver: typeof info.CgroupDriver === 'string' ? info.CgroupDriver : 'cgroupfs',
      cgroupVersion: typeof info.CgroupVersion === 'string' ? info.CgroupVersion : '1',
    };
  }

  async pause(id: string, opts: CallOptions = {}): Promise<void> {
    // 409 "is already paused" is success
    await this.#call(
      `pause container ${short(id)}`,
      opts,
      () => this.#client().getContainer(id).pause({ abortSignal: opts.signal }),
      [404, 409],
    );
  }

  async unpause(id: string, opts: CallOptions = {}): Promise<void> {
    await this.#call(
      `unpause container ${short(id)}`,
      opts,
      () => this.#client().getContainer(id).unpause({ abortSignal: opts.signal }),
      [404, 409],
    );
  }

  async containerIds(opts: CallOptions = {}): Promise<string[]> {
    const docker = this.#client();
    const infos = await this.#call('list containers', opts, () =>
      docker.listContainers({ all: true, abortSignal: opts.signal }),
    );
    return infos.map((info) => info.Id);
  }

  async listPilots(instance: string, opts: CallOptions = {}): Promise<Pilot[]> {
    const docker = this.#client();
    const infos = await this.#call(`list pilots of instance ${instance}`, opts, () =>
      docker.listContainers({ all: true, filters: { label: ownedFilter(instance) }, abortSignal: opts.signal }),
    );
    const owned = infos.filter((info) => isOwned(info.Labels, instance));
    const cache = this.#inspectCache(instance);
    cache.keepOnly(new Set(owned.map((info) => info.Id)));
    const pilots = await Promise.all(owned.map((info) => this.#toPilot(docker, info, cache, opts)));
    return pilots.filter((p): p is Pilot => p !== undefined);
  }

  async createAndStart(spec: PilotSpec, opts: CallOptions = {}): Promise<string> {
    const docker = this.#client();
    // An image missing here is create's failure to report (404), not this look-up's.
    const image = await this.#call(
      `inspect image ${spec.image}`,
      opts,
      () => docker.getImage(spec.image).inspect(),
      [404],
    );
    const labels = { ...composeLabelsCleared(image?.Config.Labels), ...spec.labels };
    const body = { ...createBody(spec, labels), abortSignal: opts.signal };
    const container = await this.#call(`create pilot ${spec.name}`, opts, () => docker.createContainer(body));
    try {
      await container.start({ abortSignal: opts.signal });
    } catch (startErr) {
      // A created but never-started pilot would hold its name and count against the pool until the next sweep.
      let cleanup = '';
      try {
        await container.remove({ force: true, v: true });
      } catch (removeErr) {
        if (statusOf(removeErr) !== 404) cleanup = `; removing it failed too: ${detailOf(removeErr)}`;
      }
      if (opts.signal?.aborted) throw opts.signal.reason;
      throw engineError(`start pilot ${spec.name} (${short(container.id)})`, startErr, cleanup);
    }
    return container.id;
  }

  /** `docker inspect` of one container; undefined when it is gone (404). */
  #inspect(id: string, opts: CallOptions) {
    return this.#call(
      `inspect container ${short(id)}`,
      opts,
      () => this.#client().getContainer(id).inspect({ abortSignal: opts.signal }),
      [404],
    );
  }

  async runState(id: string, opts: CallOptions = {}): Promise<RunState | undefined> {
    const info = await this.#inspect(id, opts);
    if (info === undefined) return undefined;
    return info.State.Paused ? 'paused' : info.State.Running ? 'running' : 'stopped';
  }

  async stop(id: string, timeoutSec: number, opts: CallOptions = {}): Promise<void> {
    // The engine answers only once the grace time is over, so the request may stay idle that long.
    const patient = this.#client(this.#timeoutMs + Math.max(0, timeoutSec) * 1000);
    await this.#call(
      `stop container ${short(id)}`,
      opts,
      () => patient.getContainer(id).stop({ t: timeoutSec, abortSignal: opts.signal }),
      [304, 404],
    );
  }

  async exec(id: string, cmd: readonly string[], opts: CallOptions = {}): Promise<string> {
    const container = this.#client().getContainer(id);
    const op = `exec in container ${short(id)}`;
    const exec = await this.#call(op, opts, () =>
      container.exec({ Cmd: [...cmd], AttachStdout: false, AttachStderr: false, abortSignal: opts.signal }),
    );
    await this.#call(op, opts, () => exec.start({ Detach: true, abortSignal: opts.signal }));
    return exec.id;
  }

  async execRunning(execId: string, opts: CallOptions = {}): Promise<boolean> {
    const info = await this.#call(`inspect exec ${short(execId)}`, opts, () =>
      this.#client().getExec(execId).inspect({ abortSignal: opts.signal }),
    );
    return info.Running;
  }

  async kill(id: string, signal: string, opts: CallOptions = {}): Promise<void> {
    const container = this.#client().getContainer(id);
    await this.#call(
      `signal ${signal} to container ${short(id)}`,
      opts,
      () => container.kill({ signal, abortSignal: opts.signal }),
      [404, 409],
    );
  }

  async wait(id: string, opts: CallOptions & { readonly withinMs?: number } = {}): Promise<void> {
    const patient = this.#client(this.#timeoutMs + Math.max(0, opts.withinMs ?? 0));
    await this.#call(
      `wait for container ${short(id)}`,
      opts,
      () => patient.getContainer(id).wait({ abortSignal: opts.signal }),
      [404],
    );
  }

  async inspectExit(id: string, opts: CallOptions = {}): Promise<PilotExit | undefined> {
    const info = await this.#inspect(id, opts);
    if (info === undefined) return undefined;
    const startedAt = parseEngineTime(info.State.StartedAt);
    const ended = startedAt !== undefined && !info.State.Running && !info.State.Restarting;
    return {
      exitCode: ended ? info.State.ExitCode : undefined,
      oomKilled: info.State.OOMKilled,
      startedAt,
      finishedAt: parseEngineTime(info.State.FinishedAt),
    };
  }

  async remove(id: string, opts: CallOptions = {}): Promise<void> {
    const op = `remove container ${short(id)}`;
    try {
      await this.#client().getContainer(id).remove({ v: true, abortSignal: opts.signal });
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const status = statusOf(err);
      if (status === 404) return;
      // Another remover got there first; branching on text is the engine's only signal for this case.
      if (status === 409 && /already in progress/i.test(detailOf(err))) return;
      throw engineError(op, err);
    }
  }

  async imagePresent(image: string, opts: CallOptions = {}): Promise<boolean> {
    const found = await this.#call(
      `inspect image ${image}`,
      opts,
      () => this.#client().getImage(image).inspect(),
      [404],
    );
    return found !== undefined;
  }

  async pull(image: string, opts: CallOptions & { readonly source?: PullSource | undefined } = {}): Promise<void> {
    const { source } = opts;
    const from = source
      ? ` from registry ${source.registry} ${source.auth ? `with the credentials of ${source.from ?? 'the configuration'}` : 'without credentials'}`
      : '';
    const op = `pull image ${image}${from}`;
    const options = { abortSignal: opts.signal, ...(source?.auth ? { authconfig: { ...source.auth } } : {}) };
    const stream = (await this.#call(op, opts, () => this.#client().pull(image, options))) as Readable;
    await followPull(stream, op, opts.signal);
  }

  async watch(instance: string, onEvent: (event: PilotEvent) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const op = `watch events of instance ${instance}`;
    // No idle time-out once open: a quiet host sends no events for hours. Opening is still bounded.
    const docker = this.#client(0, this.#timeoutMs);
    const options = {
      filters: { type: ['container'], label: ownedFilter(instance) },
      abortSignal: signal,
    } as Dockerode.GetEventsOptions;
    let stream: Readable;
    try {
      stream = (await docker.getEvents(options)) as Readable;
    } catch (err) {
      if (signal.aborted) return;
      throw engineError(op, err);
    }
    const cache = this.#inspectCache(instance);
    cache.opened();
    try {
      await this.#follow(stream, instance, op, onEvent, signal, cache);
    } finally {
      cache.closed();
    }
  }

  /** Hands the stream's events of `instance` on until it ends, fails or `signal` aborts. */
  #follow(
    stream: Readable,
    instance: string,
    op: string,
    onEvent: (event: PilotEvent) => void,
    signal: AbortSignal,
    cache: InspectCache,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (failure?: Error): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (failure === undefined || signal.aborted) resolve();
        else reject(failure);
      };
      const onAbort = (): void => {
        finish();
        stream.destroy();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      readJsonLines(stream, (line) => {
        const event = toPilotEvent(line, instance);
        if (event === undefined || settled) return;
        cache.event(event.id, event.action);
        try {
          onEvent(event);
        } catch (err) {
          // The caller's own failure: hand it back unchanged rather than throw it out of a stream handler.
          finish(err instanceof Error ? err : new Error(String(err)));
          stream.destroy();
        }
      });
      stream.once('error', (err) => finish(engineError(op, err)));
      stream.once('end', () => finish());
      // A dropped connection may close the stream without an error.
      stream.once('close', () =>
        finish(
          stream.readableEnded
            ? undefined
            : new EngineError(`${op} failed: event stream closed before its end`, { unreachable: true }),
        ),
      );
      if (signal.aborted) onAbort();
    });
  }

  #inspectCache(instance: string): InspectCache {
    let cache = this.#inspected.get(instance);
    if (!cache) this.#inspected.set(instance, (cache = new InspectCache()));
    return cache;
  }

  async #toPilot(
    docker: Docker,
    info: Dockerode.ContainerInfo,
    cache: InspectCache,
    opts: CallOptions,
  ): Promise<Pilot | undefined> {
    const state = toState(info.State);
    let times = cache.get(info.Id, state);
    if (!times && state !== 'created' && state !== 'removing') {
      const mark = cache.mark();
      const full = await this.#call(
        `inspect container ${short(info.Id)}`,
        opts,
        () => docker.getContainer(info.Id).inspect({ abortSignal: opts.signal }),
        [404],
      );
      // Gone between list and inspect: it is no longer a pilot.
      if (full === undefined) return undefined;
      const ended = state === 'exited' || state === 'dead';
      times = {
        state,
        startedAt: parseEngineTime(full.State.StartedAt),
        finishedAt: ended ? parseEngineTime(full.State.FinishedAt) : undefined,
        exitCode: ended ? full.State.ExitCode : undefined,
      };
      cache.set(info.Id, times, mark);
    }
    const { startedAt, finishedAt, exitCode } = times ?? {};
    return {
      id: info.Id,
      name: (info.Names[0] ?? '').replace(/^\//, ''),
      pilotId: info.Labels[LABELS.pilotId] ?? '',
      state,
      image: info.Image,
      configHash: info.Labels[LABELS.configHash] ?? '',
      createdAt: info.Created * 1000,
      startedAt,
      finishedAt,
      exitCode,
      ...poolOfLabels(info.Labels),
    };
  }

  /**
   * Runs one engine call; statuses in `okStatuses` mean "nothing to do" and resolve to undefined.
   * A call given up because its signal aborted rejects with the signal's reason, not an EngineError.
   */
  async #call<T>(op: string, opts: CallOptions, fn: () => Promise<T>): Promise<T>;
  async #call<T>(
    op: string,
    opts: CallOptions,
    fn: () => Promise<T>,
    okStatuses: readonly number[],
  ): Promise<T | undefined>;
  async #call<T>(
    op: string,
    opts: CallOptions,
    fn: () => Promise<T>,
    okStatuses: readonly number[] = [],
  ): Promise<T | undefined> {
    opts.signal?.throwIfAborted();
    try {
      return await fn();
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const status = statusOf(err);
      if (status !== undefined && okStatuses.includes(status)) return undefined;
      throw engineError(op, err);
    }
  }

  #client(timeoutMs = this.#timeoutMs, connectionTimeoutMs = 0): Docker {
    const key = `${timeoutMs}/${connectionTimeoutMs}`;
    let client = this.#clients.get(key);
    if (client === undefined) {
      const options: ModemOptions = { ...this.#base, timeout: timeoutMs };
      if (connectionTimeoutMs > 0) options.connectionTimeout = connectionTimeoutMs;
      client = new Docker(options);
      this.#clients.set(key, client);
    }
    return client;
  }
}

/** Only the keys actually given, so that dockerode's DOCKER_HOST defaults fill the rest. */
function modemAddress(options: DockerEngineOptions): ModemOptions {
  if (options.socketPath !== undefined) return { socketPath: options.socketPath };
  if (options.host === undefined) return {};
  if (options.host.startsWith('unix://')) return { socketPath: options.host.slice('unix://'.length) };
  const url = new URL(options.host.includes('://') ? options.host : `tcp://${options.host}`);
  const protocol = url.protocol === 'https:' ? 'https' : 'http';
  return { host: url.hostname, port: url.port || (protocol === 'https' ? '2376' : '2375'), protocol };
}

/** The create request of `spec`, with `labels` (the spec's and those that override the image's). */
function createBody(spec: PilotSpec, labels: Readonly<Record<string, string>>): Dockerode.ContainerCreateOptions {
  const hostConfig: Dockerode.HostConfig = {
    CpuPeriod: spec.cpuPeriod,
    CpuQuota: spec.cpuQuota,
    Memory: spec.memoryBytes,
    MemorySwap: spec.memorySwapBytes,
    Binds: [...spec.binds],
    Devices: spec.devices.map((d) => ({
      PathOnHost: d.pathOnHost,
      PathInContainer: d.pathInContainer,
      CgroupPermissions: d.cgroupPermissions,
    })),
    CapAdd: [...spec.capAdd],
    CapDrop: [...spec.capDrop],
    SecurityOpt: [...spec.securityOpt],
    Privileged: spec.privileged,
  };
  if (spec.networkMode !== '') hostConfig.NetworkMode = spec.networkMode;
  if (spec.cgroupParent) hostConfig.CgroupParent = spec.cgroupParent;
  if (spec.pidsLimit > 0) hostConfig.PidsLimit = spec.pidsLimit;
  const body: Dockerode.ContainerCreateOptions = {
    name: spec.name,
    Image: spec.image,
    Cmd: [...spec.cmd],
    Hostname: spec.hostname,
    Labels: { ...labels },
    Env: [...spec.env],
    HostConfig: hostConfig,
  };
  if (spec.user !== '') body.User = spec.user;
  return body;
}

function toState(state: string): PilotState {
  // Docker has no other states; an unknown one is safest read as dead, which the core removes.
  return STATES.has(state) ? (state as PilotState) : 'dead';
}

/** Engine timestamps as ms since the epoch; Go's zero time (`0001-01-01T00:00:00Z`) means "never". */
export function parseEngineTime(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/**
 * Follows a pull's progress stream to its end. Registry failures after the 200 arrive as `{error}`
 * lines in the stream; an abort destroys the stream and rejects with the signal's reason at once.
 */
function followPull(stream: Readable, op: string, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => {
      finish(signal?.reason as Error);
      stream.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    readJsonLines(stream, (line) => {
      const message = errorMessageOf(line);
      if (message === undefined || settled) return;
      finish(new EngineError(`${op} failed: ${message}`, { cause: line }));
      stream.destroy();
    });
    stream.once('error', (err) => finish(engineError(op, err)));
    stream.once('end', () => finish());
    // A time-out destroys the response without always emitting an error.
    stream.once('close', () => {
      if (!stream.readableEnded)
        finish(new EngineError(`${op} failed: progress stream closed before the end`, { unreachable: true }));
    });
    if (signal?.aborted) onAbort();
  });
}
