import { runningPid } from '../daemon/pid-file.ts';
import { RunDir } from '../daemon/run-dir.ts';
import { formatStatus, unhealthyReason, type StatusReport } from '../report/status.ts';
import type { Cli } from './args.ts';
import { pathsOf } from './setup.ts';

/** Exit code of `status` when the daemon does not run (as LSB init scripts use it). */
export const NOT_RUNNING = 3;

async function current(
  cli: Cli,
): Promise<{ pid: number | undefined; report: StatusReport | undefined; alive: boolean }> {
  const paths = pathsOf(cli);
  const pid = await runningPid(paths.pidFile);
  const report = (await new RunDir(paths.runDir).readStatus()) as StatusReport | undefined;
  return { pid, report, alive: pid !== undefined && report?.pid === pid };
}

/** `plancton health`: exit 0 when the daemon runs, iterates and reaches the engine; else 1 with the reason (for HEALTHCHECK and probes). */
export async function health(cli: Cli, out: NodeJS.WritableStream): Promise<number> {
  const { report, alive } = await current(cli);
  const reason = unhealthyReason(report, alive, Date.now());
  out.write(
    reason ? `unhealthy: ${reason}\n` : `healthy: ${report?.state ?? ''}, ${report?.pilots.length ?? 0} pilots\n`,
  );
  return reason ? 1 : 0;
}

/** `plancton status [--json]`: the daemon's last report; exit 0 when it runs, 3 when not. */
export async function status(cli: Cli, out: NodeJS.WritableStream): Promise<number> {
  const { pid, report, alive } = await current(cli);
  if (cli.opts.json) {
    out.write(`${JSON.stringify({ running: alive, pid: pid ?? null, ...(report ?? {}) }, null, 2)}\n`);
  } else if (!report) {
    out.write(pid === undefined ? 'plancton is not running\n' : `plancton is starting (pid ${pid}), no status yet\n`);
  } else {
    out.write(`${formatStatus(report, Date.now(), alive)}\n`);
  }
  return alive || (pid !== undefined && !report) ? 0 : NOT_RUNNING;
}
