import { setTimeout as delay } from 'node:timers/promises';
import { runningPid } from '../daemon/pid-file.ts';
import { RunDir } from '../daemon/run-dir.ts';
import { createLogger } from '../report/logger.ts';
import { RemovalLog } from '../report/removals.ts';
import { systemClock } from '../common/clock.ts';
import { EngineError } from '../core/errors.ts';
import { LoopSignals } from '../daemon/loop-signals.ts';
import { PassRunner } from '../daemon/pass.ts';
import { HostObserver } from '../host/observer.ts';
import type { Cli } from './args.ts';
import { apparmorEnabled, engineFor, loadFor, pathsOf, resolveIdentity } from './setup.ts';

const notRunning = (pid: number | undefined): string =>
  pid === undefined ? ' (the daemon is not running: it applies at the next start)' : '';

/** `drain` (start nothing new) and `drain --stop` / `drain-stop` (then exit once no pilot is left). */
export async function drain(cli: Cli, stop: boolean, out: NodeJS.WritableStream): Promise<number> {
  const paths = pathsOf(cli);
  const runDir = new RunDir(paths.runDir);
  await runDir.set('drain', 'plancton drain');
  if (stop) await runDir.set('drainStop', 'plancton drain --stop');
  out.write(`${stop ? 'drain-stop' : 'drain'} set in ${paths.runDir}${notRunning(await runningPid(paths.pidFile))}\n`);
  return 0;
}

/** Leaves drain and drain-stop. */
export async function resume(cli: Cli, out: NodeJS.WritableStream): Promise<number> {
  const paths = pathsOf(cli);
  const runDir = new RunDir(paths.runDir);
  await runDir.clear('drain');
  await runDir.clear('drainStop');
  out.write(`resumed${notRunning(await runningPid(paths.pidFile))}\n`);
  return 0;
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end;) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await delay(100);
  }
  return false;
}

const timeoutOf = (cli: Cli): number => (cli.opts.timeout ? Number(cli.opts.timeout) * 1000 : 120_000);

/** Graceful exit of the daemon; pilots keep running and are adopted by the next start. */
export async function stop(cli: Cli, out: NodeJS.WritableStream): Promise<number> {
  const paths = pathsOf(cli);
  const pid = await runningPid(paths.pidFile);
  if (pid === undefined) {
    out.write('plancton is not running\n');
    return 0;
  }
  process.kill(pid, 'SIGTERM');
  if (await waitGone(pid, timeoutOf(cli))) {
    out.write(`plancton stopped (pid ${pid}); pilots keep running\n`);
    return 0;
  }
  out.write(`plancton (pid ${pid}) did not exit in time\n`);
  return 1;
}

/**
 * Removes every pilot this instance owns, then the daemon exits. With no daemon running,
 * the command removes them itself. Either way the run directory is left drained.
 */
export async function forceStop(cli: Cli, out: NodeJS.WritableStream): Promise<number> {
  const paths = pathsOf(cli);
  const runDir = new RunDir(paths.runDir);
  const pid = await runningPid(paths.pidFile);
  if (pid !== undefined) {
    await runDir.set('forceStop', 'plancton force-stop');
    if (await waitGone(pid, timeoutOf(cli))) {
      out.write(`plancton removed its pilots and exited (pid ${pid})\n`);
      return 0;
    }
    out.write(`plancton (pid ${pid}) did not finish force-stop in time\n`);
    return 1;
  }
  const config = await loadFor(cli, paths);
  const engine = engineFor(config);
  const identity = await resolveIdentity(config, engine);
  // one pass of the daemon's own (observe, decide, execute): every pilot removed, live ones vacated first
  const pass = await new PassRunner({
    engine,
    identity,
    observer: new HostObserver({ procRoot: config.settings.host_proc }),
    logger: createLogger({ level: config.settings.log_level, stream: process.stderr }),
    removals: new RemovalLog(),
    apparmor: await apparmorEnabled(),
    clock: systemClock,
    random: Math.random,
  }).run(config, { drain: false, drainStop: false, forceStop: true }, new LoopSignals());
  if (pass.engineError !== undefined) throw new EngineError(pass.engineError);
  if (pass.decision === undefined) throw new Error('cannot sample the host');
  const removed = pass.outcome?.removed ?? 0;
  await runDir.set('drain', 'left by force-stop');
  await runDir.clear('forceStop');
  // the pilots listed after the removals are the ones left
  out.write(`removed ${removed} of ${removed + pass.pilots.length} pilots of instance ${identity.instance}\n`);
  return pass.pilots.length === 0 ? 0 : 1;
}
