import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ConfigError, EngineError } from '../core/errors.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { ConfigSource } from '../config/source.ts';
import { Daemon, primeSampler } from '../daemon/daemon.ts';
import type { Identity } from '../daemon/executor.ts';
import type { DockerEngine } from '../engine/docker-engine.ts';
import { ENGINE_RETRY_DELAYS_MS } from '../engine/retry.ts';
import { claimPidFile, releasePidFile, runningPid } from '../daemon/pid-file.ts';
import { RunDir } from '../daemon/run-dir.ts';
import { HostSampler } from '../host/sampler.ts';
import { PilotCpuMeter } from '../host/pilot-cpu.ts';
import { setupIdleCgroup, type IdleSetup } from '../host/idle-cgroup.ts';
import { createIoWatch, type IoWatch } from '../daemon/io-watch.ts';
import { createLogger, type Logger } from '../report/logger.ts';
import { createReporters } from '../report/reporters.ts';
import type { Cli } from './args.ts';
import { apparmorEnabled, engineFor, loadFor, pathsOf, resolveIdentity, sourceFor } from './setup.ts';


/** `plancton run` / `planctonctl nodaemon`: the daemon in the foreground (what the container runs). */
export async function runForeground(cli: Cli, out: NodeJS.WritableStream): Promise<number> {
  const paths = pathsOf(cli);
  // One handler from the first line to the last, so that no signal meets node's default (exit 143,
  // nothing cleaned up) or goes unseen. Until the engine is known (waiting for the config URL or the
  // engine) a signal ends the start quietly; from then on it is the daemon's stop, on_stop included,
  // even when it came while the daemon was still being set up.
  const early = new AbortController();
  let daemon: Daemon | undefined;
  let logger: Logger | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    logger?.info(`${sig} received`);
    if (daemon) daemon.stop();
    else early.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const pending: string[] = [];
    let warn = (m: string): void => void pending.push(m);
    const source = sourceFor(cli, paths, (m) => warn(m));
    let sampler: HostSampler;
    let primed: Awaited<ReturnType<typeof primeSampler>>;
    let config: LoadedConfig;
    let identity: Identity;
    let engine: DockerEngine;
    const runDir = new RunDir(paths.runDir);
    try {
      config = await firstLoad(source, early.signal, out);
      // the first CPU interval runs while the rest starts up
      sampler = new HostSampler({ procRoot: config.settings.host_proc, onPressureError: (e) => logger?.debug(`pressure: ${String(e)}`) });
      primed = await primeSampler(sampler, Date.now());
      logger = createLogger({ level: config.settings.log_level, logDir: paths.logDir });
      const log = logger;
      warn = (m) => log.warn(m);
      pending.forEach(warn);
      await runDir.ensure();
      if (/^(1|true|yes)$/i.test(process.env.PLANCTON_START_DRAIN ?? '')) await runDir.set('drain', 'PLANCTON_START_DRAIN');
      await claimPidFile(paths.pidFile);
      engine = engineFor(config);
      try {
        identity = await resolveIdentity(config, engine, {
          retry: true,
          signal: early.signal,
          onWait: (err) => log.error(`waiting for the engine to learn the host name: ${(err as Error).message}`),
        });
      } catch (err) {
        await releasePidFile(paths.pidFile);
        throw err;
      }
    } catch (err) {
      if (early.signal.aborted) return 0;
      if (err instanceof ConfigError || err instanceof EngineError) throw err;
      out.write(`plancton: ${(err as Error).message}\n`);
      return 1;
    }
    const idle = await idleSetup(config, engine);
    const io = await ioSetup(config, engine, idle.ok ? config.settings.cgroup_parent : undefined, warn);
    daemon = new Daemon(
      {
        engine,
        sampler,
        primed,
        cpuMeter: new PilotCpuMeter(config.settings.host_cgroup, idle.ok ? idle.cgroup : undefined),
        idle: idle.ok ? idle.cgroup : undefined,
        idleProblem: idle.ok ? undefined : idle.reason,
        procRoot: config.settings.host_proc,
        io,
        runDir,
        logger,
        identity,
        reload: () => source.load(),
        apparmor: await apparmorEnabled(),
        reporters: await createReporters(config, { logger, identity }),
      },
      config,
    );
    // a signal that came during the set-up is the daemon's stop now
    if (early.signal.aborted) daemon.stop();
    try {
      const reason = await daemon.run();
      logger.info('exit', { reason });
      return 0;
    } finally {
      await releasePidFile(paths.pidFile);
      const done = logger;
      await new Promise<void>((resolve) => {
        done.on('finish', resolve);
        done.end();
      });
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/** The idle-priority parent cgroup, unless `cgroup_parent` is empty (then: none, and no problem to report). */
async function idleSetup(config: LoadedConfig, engine: DockerEngine): Promise<IdleSetup | { ok: false; reason: undefined }> {
  const name = config.settings.cgroup_parent;
  if (!name) return { ok: false, reason: undefined };
  try {
    return await setupIdleCgroup(config.settings.host_cgroup, name, await engine.info());
  } catch (err) {
    return { ok: false, reason: `cannot ask the engine about its cgroups: ${(err as Error).message}` };
  }
}

/** The disk's watch, unless the engine cannot say which cgroup version it uses (then: not governed, said in the log). */
async function ioSetup(config: LoadedConfig, engine: DockerEngine, parent: string | undefined, log: (m: string) => void): Promise<IoWatch | undefined> {
  try {
    return await createIoWatch(config.settings, (await engine.info()).cgroupVersion === '2' ? '2' : '1', parent);
  } catch (err) {
    log(`the disk is not governed: ${(err as Error).message}`);
    return undefined;
  }
}

/** The first configuration; a URL that cannot be fetched yet is retried (as 0.6's container did), a bad configuration is not. */
async function firstLoad(source: ConfigSource, signal: AbortSignal, out: NodeJS.WritableStream): Promise<LoadedConfig> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await source.load();
    } catch (err) {
      if (err instanceof ConfigError || !process.env.PLANCTON_CONF_URL) throw err;
      out.write(`plancton: ${(err as Error).message}; retrying\n`);
      await delay(ENGINE_RETRY_DELAYS_MS[Math.min(attempt, ENGINE_RETRY_DELAYS_MS.length - 1)] ?? 3000, undefined, { signal });
    }
  }
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
  const args = [...process.execArgv, script, 'run', ...argv.filter((a) => a !== 'start' && a !== 'force-start'), '--log-dir', logDir];
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
