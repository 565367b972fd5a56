import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ConfigError, EngineError } from '../core/errors.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { Paths } from '../config/source/paths.ts';
import type { ConfigSource } from '../config/source/source.ts';
import { Daemon, type LateSetup } from '../daemon/daemon.ts';
import type { Identity } from '../core/pilot-shape.ts';
import type { DockerEngine } from '../engine/docker-engine.ts';
import { RETRY_DELAYS_MS, withRetry } from '../common/retry.ts';
import { claimPidFile, releasePidFile, runningPid } from '../daemon/pid-file.ts';
import { RunDir } from '../daemon/run-dir.ts';
import { HostObserver } from '../host/observer.ts';
import { PauseBoost } from '../host/pause-boost.ts';
import { setupIdleCgroup } from '../host/idle-cgroup.ts';
import { removeStalePilotGroups } from '../host/stale-pilot-cgroups.ts';
import { createIoWatch, type IoWatch } from '../daemon/io-watch.ts';
import { createLogger, type Logger } from '../report/logger.ts';
import { createReporters } from '../report/reporters.ts';
import type { Cli } from './args.ts';
import { apparmorEnabled, engineFor, loadFor, pathsOf, resolveIdentity, sourceFor } from './setup.ts';

/** `plancton run` / `planctonctl nodaemon`: the daemon in the foreground (what the container runs). */
export async function runForeground(cli: Cli, out: NodeJS.WritableStream): Promise<number> {
  const paths = pathsOf(cli);
  // One handler from the first line to the last, so that no signal meets node's default (exit 143,
  // nothing cleaned up) or goes unseen. While the start waits (for the config URL or the engine) a
  // signal ends it quietly; otherwise it is the daemon's stop, on_stop included, even when it came
  // while the daemon was still being set up.
  const early = new AbortController();
  const held: { daemon?: Daemon; logger?: Logger } = {};
  const onSignal = (sig: NodeJS.Signals): void => {
    held.logger?.info(`${sig} received`);
    if (held.daemon) held.daemon.stop();
    else early.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    let started: StartUp;
    try {
      started = await startUp(cli, paths, out, early.signal, held);
    } catch (err) {
      await releasePidFile(paths.pidFile);
      if (early.signal.aborted) return 0;
      if (err instanceof ConfigError || err instanceof EngineError) throw err;
      out.write(`plancton: ${(err as Error).message}\n`);
      return 1;
    }
    held.daemon = await daemonFor(started);
    // a signal that came during the set-up is the daemon's stop now
    if (early.signal.aborted) held.daemon.stop();
    return await runToEnd(held.daemon, started.logger, paths.pidFile);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/** What the start-up gathered for the daemon. */
interface StartUp {
  readonly source: ConfigSource;
  readonly config: LoadedConfig;
  readonly observer: HostObserver;
  readonly primed: { readonly at: number };
  readonly logger: Logger;
  readonly runDir: RunDir;
  readonly engine: DockerEngine;
  readonly identity: Identity;
}

/** Configuration, the observer's first reading, logger, run directory, pid file, engine and identity. */
async function startUp(
  cli: Cli,
  paths: Paths,
  out: NodeJS.WritableStream,
  signal: AbortSignal,
  held: { logger?: Logger },
): Promise<StartUp> {
  const pending: string[] = [];
  let warn = (m: string): void => void pending.push(m);
  const source = sourceFor(cli, paths, (m) => warn(m));
  const runDir = new RunDir(paths.runDir);
  // before anything else: a second daemon on the same run directory or pid file stops here
  await runDir.ensure();
  await claimPidFile(paths.pidFile, paths.runDir);
  const waits = waitsOnly(signal);
  const config = await firstLoad(source, waits, out);
  // the first CPU interval runs while the rest starts up
  const { host_proc: procRoot, host_cgroup: cgroupRoot } = config.settings;
  const observer = new HostObserver({
    procRoot,
    cgroupRoot,
    onPressureError: (e) => held.logger?.debug(`pressure: ${String(e)}`),
    pilots: {
      parentName: config.settings.cgroup_parent || undefined,
      warn: (m) => held.logger?.warn(m),
      info: (m) => held.logger?.info(m),
    },
  });
  const primed = await observer.prime(Date.now());
  const logger = createLogger({ level: config.settings.log_level, logDir: paths.logDir });
  held.logger = logger;
  warn = (m) => logger.warn(m);
  pending.forEach(warn);
  if (/^(1|true|yes)$/i.test(process.env.PLANCTON_START_DRAIN ?? '')) await runDir.set('drain', 'PLANCTON_START_DRAIN');
  const engine = engineFor(config);
  const identity = await resolveIdentity(config, engine, {
    retry: true,
    signal: waits.signal,
    onWait: (err) => {
      waits.waiting();
      logger.error(`waiting for the engine to learn the host name: ${(err as Error).message}`);
    },
  });
  return { source, config, observer, primed, logger, runDir, engine, identity };
}

/** The daemon, with the idle-priority cgroup and the disk's watch set up and the reporters made. */
async function daemonFor(s: StartUp): Promise<Daemon> {
  const { config, engine, observer, logger, identity } = s;
  const setUp = () => engineSetup(config, engine, observer, logger);
  const first = await setUp();
  const parent = config.settings.cgroup_parent;
  return new Daemon(
    {
      engine,
      identity,
      apparmor: await apparmorEnabled(),
      host: {
        observer,
        primed: s.primed,
        idle: first?.idle,
        idleProblem: first
          ? first.idleProblem
          : parent
            ? `waiting for the engine to answer, to set up the idle-priority parent ${parent}`
            : undefined,
        io: first?.io,
        // an engine that does not answer yet (a sidecar starting beside Plancton): tried again before each pass
        retrySetup: first ? undefined : setUp,
        pauseBoost: new PauseBoost(
          (ids) => observer.locatePilots(ids),
          (m) => logger.warn(m),
        ),
      },
      reload: { load: (signal) => s.source.load(signal), deadlineMs: s.source.deadlineMs },
      runDir: s.runDir,
      logger,
      reporters: await createReporters(config, { logger, identity }),
    },
    config,
  );
}

/** Runs the daemon until it exits; then releases the pid file and flushes the log. */
async function runToEnd(daemon: Daemon, logger: Logger, pidFile: string): Promise<number> {
  try {
    const reason = await daemon.run();
    logger.info('exit', { reason });
    return 0;
  } finally {
    await releasePidFile(pidFile);
    await new Promise<void>((resolve) => {
      logger.on('finish', resolve);
      logger.end();
    });
  }
}

/**
 * What needs the engine's answer (its cgroup driver and version): the idle-priority parent, unless
 * `cgroup_parent` is empty, with the clean-up of groups left behind; the disk's watch. Undefined
 * when the engine does not answer.
 */
async function engineSetup(
  config: LoadedConfig,
  engine: DockerEngine,
  observer: HostObserver,
  logger: Logger,
): Promise<LateSetup | undefined> {
  const s = config.settings;
  let info;
  try {
    info = await engine.info();
  } catch (err) {
    if (err instanceof EngineError) return undefined;
    const problem = `cannot ask the engine about its cgroups: ${(err as Error).message}`;
    logger.warn(`the disk is not governed: ${problem}`);
    return { idleProblem: s.cgroup_parent ? problem : undefined };
  }
  const idle = s.cgroup_parent ? await setupIdleCgroup(s.host_cgroup, s.cgroup_parent, info) : undefined;
  observer.usePilotParent(idle?.ok ? idle.cgroup : undefined);
  if (idle?.ok) await sweepStaleGroups(config, engine, logger);
  let io: IoWatch | undefined;
  try {
    io = await createIoWatch(s, info.cgroupVersion === '2' ? '2' : '1', idle?.ok ? s.cgroup_parent : undefined);
  } catch (err) {
    logger.warn(`the disk is not governed: ${(err as Error).message}`);
  }
  return {
    idle: idle?.ok ? idle.cgroup : undefined,
    idleProblem: idle && !idle.ok ? idle.reason : undefined,
    io,
  };
}

/**
 * Removes the empty pilot cgroups in the idle parent that belong to no container of the engine
 * (left by a Docker-in-Docker engine killed with its pod: docs/kubernetes.md), having thawed the
 * frozen ones whose processes were killed (pilots paused when their engine's container died);
 * said in the log.
 */
async function sweepStaleGroups(config: LoadedConfig, engine: DockerEngine, logger: Logger): Promise<void> {
  const s = config.settings;
  try {
    const known = new Set(await engine.containerIds());
    const { removed, thawed } = await removeStalePilotGroups(s.host_cgroup, s.cgroup_parent, known, s.host_proc);
    if (thawed.length)
      logger.warn(
        `thawed ${thawed.length} frozen pilot cgroup(s) of containers the engine does not know, every process in them killed but held by the freezer (pilots paused when their engine's container died): ${thawed.join(', ')}`,
      );
    if (removed.length)
      logger.info(
        `removed ${removed.length} empty pilot cgroup(s) of containers the engine does not know (an engine gone with its pod): ${removed.join(', ')}`,
      );
  } catch (err) {
    logger.warn(`cannot look for pilot cgroups left by containers gone: ${(err as Error).message}`);
  }
}

/**
 * The first configuration; a URL that cannot be fetched yet is retried (as 0.6's container did), a
 * bad configuration is not. A server may stall the very first fetch: from a server, it counts as a
 * wait from the start, so that a stop during it ends the start at once (its fetch given up).
 */
function firstLoad(source: ConfigSource, waits: WaitsOnly, out: NodeJS.WritableStream): Promise<LoadedConfig> {
  if (source.remote) waits.waiting();
  return withRetry(() => source.load(waits.signal), {
    delaysMs: RETRY_DELAYS_MS,
    forever: true,
    signal: waits.signal,
    isRetryable: (err) => !(err instanceof ConfigError) && source.remote,
    onRetry: (err) => {
      waits.waiting();
      out.write(`plancton: ${(err as Error).message}; retrying\n`);
    },
  });
}

interface WaitsOnly {
  readonly signal: AbortSignal;
  /** Called when a start-up step begins to wait (the config URL, the engine). */
  readonly waiting: () => void;
}

/**
 * A signal that follows `stop` only once a start-up step has to wait: a stop that comes while
 * nothing waits lets the start complete (the pid file is claimed before anything else, so a stop
 * can come that early), and then is the daemon's stop, on_stop included; one that comes while
 * Plancton waits for the config URL or the engine ends the start at once.
 */
function waitsOnly(stop: AbortSignal): WaitsOnly {
  const cut = new AbortController();
  let waiting = false;
  stop.addEventListener('abort', () => waiting && cut.abort(stop.reason), { once: true });
  return {
    signal: cut.signal,
    waiting: () => {
      waiting = true;
      if (stop.aborted) cut.abort(stop.reason);
    },
  };
}

/** `planctonctl start`: the daemon in the background, logging to the log directory. */
export async function startDetached(cli: Cli, argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const paths = pathsOf(cli, true);
  await loadFor(cli, paths); // a bad configuration fails here, where the user sees it
  const pid = await runningPid(paths.pidFile);
  if (pid !== undefined) {
    out.write(`plancton is already running (pid ${pid})\n`);
    return 0;
  }
  const logDir = paths.logDir ?? paths.runDir;
  mkdirSync(logDir, { recursive: true });
  const console = openSync(join(logDir, 'plancton.out'), 'a');
  const script = process.argv[1] ?? '';
  const args = [
    ...process.execArgv,
    script,
    'run',
    ...argv.filter((a) => a !== 'start' && a !== 'force-start'),
    '--log-dir',
    logDir,
  ];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', console, console] });
  child.unref();
  for (let i = 0; i < 100; i++) {
    if ((await runningPid(paths.pidFile)) === child.pid) {
      out.write(`plancton started (pid ${child.pid}), logs in ${logDir}\n`);
      return 0;
    }
    if (child.exitCode !== null) break;
    await delay(100);
  }
  out.write(`plancton did not start: see ${join(logDir, 'plancton.out')}\n`);
  return 1;
}
