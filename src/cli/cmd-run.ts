import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Daemon } from '../daemon/daemon.ts';
import { claimPidFile, releasePidFile, runningPid } from '../daemon/pid-file.ts';
import { RunDir } from '../daemon/run-dir.ts';
import { HostSampler } from '../host/sampler.ts';
import { PilotCpuMeter } from '../host/pilot-cpu.ts';
import { createLogger } from '../report/logger.ts';
import type { Cli } from './args.ts';
import { apparmorEnabled, engineFor, loadFor, pathsOf, resolveIdentity } from './setup.ts';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** `plancton run` / `planctonctl nodaemon`: the daemon in the foreground (what the container runs). */
export async function runForeground(cli: Cli, out: NodeJS.WritableStream): Promise<number> {
  const paths = pathsOf(cli);
  const config = loadFor(cli, paths);
  const logger = createLogger({ level: config.settings.log_level, logDir: paths.logDir });
  const runDir = new RunDir(paths.runDir);
  await runDir.ensure();
  try {
    await claimPidFile(paths.pidFile);
  } catch (err) {
    out.write(`plancton: ${(err as Error).message}\n`);
    return 1;
  }
  const engine = engineFor(config);
  const early = new AbortController();
  const onEarlySignal = (): void => early.abort();
  process.once('SIGTERM', onEarlySignal);
  process.once('SIGINT', onEarlySignal);
  let identity;
  try {
    identity = await resolveIdentity(config, engine, {
      retry: true,
      signal: early.signal,
      onWait: (err) => logger.error(`waiting for the engine to learn the host name: ${(err as Error).message}`),
    });
  } catch (err) {
    await releasePidFile(paths.pidFile);
    if (early.signal.aborted) return 0;
    throw err;
  } finally {
    process.off('SIGTERM', onEarlySignal);
    process.off('SIGINT', onEarlySignal);
  }
  const daemon = new Daemon(
    {
      engine,
      sampler: new HostSampler({ procRoot: config.settings.host_proc, onPressureError: (e) => logger.debug(`pressure: ${String(e)}`) }),
      cpuMeter: new PilotCpuMeter(CGROUP_ROOT),
      runDir,
      logger,
      identity,
      reload: () => Promise.resolve(loadFor(cli, paths)),
      apparmor: await apparmorEnabled(),
    },
    config,
  );
  const onSignal = (sig: NodeJS.Signals): void => {
    logger.info(`${sig} received`);
    daemon.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const reason = await daemon.run();
    logger.info('exit', { reason });
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await releasePidFile(paths.pidFile);
    await new Promise<void>((resolve) => {
      logger.on('finish', resolve);
      logger.end();
    });
  }
}

/** `planctonctl start`: the daemon in the background, logging to the log directory. */
export async function startDetached(cli: Cli, argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const paths = pathsOf(cli, true);
  loadFor(cli, paths); // a bad configuration fails here, where the user sees it
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
