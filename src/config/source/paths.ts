import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where Plancton keeps its state, pid file, logs and configuration. */
export interface Paths {
  readonly runDir: string;
  readonly pidFile: string;
  /** Directory of the rotating log file; undefined: log to stdout only. */
  readonly logDir: string | undefined;
  readonly configFile: string;
  /** False when configFile is the implicit default, which may be absent. */
  readonly configRequired: boolean;
}

export interface PathOptions {
  readonly config?: string | undefined;
  readonly confDir?: string | undefined;
  readonly runDir?: string | undefined;
  readonly pidFile?: string | undefined;
  readonly logDir?: string | undefined;
  /** 0.6's `--user`: keep state under ~/.plancton even as root. */
  readonly user?: boolean | undefined;
  /** Daemonised starts log to a file by default; foreground runs log to stdout. */
  readonly daemonised?: boolean | undefined;
}

export const DEFAULT_CONFIG = '/etc/plancton/config.yaml';

/** 0.6's defaults as root (/var/run/plancton, /var/run/plancton.pid, /var/log/plancton), ~/.plancton otherwise. */
export function resolvePaths(o: PathOptions, env: NodeJS.ProcessEnv, isRoot: boolean, home = homedir()): Paths {
  const userMode = o.user === true || !isRoot;
  const base = join(home, '.plancton');
  const explicitConfig = o.config ?? env.PLANCTON_CONFIG ?? (o.confDir ? join(o.confDir, 'config.yaml') : undefined);
  const logDir =
    o.logDir ??
    env.PLANCTON_LOG_DIR ??
    (o.daemonised ? (userMode ? join(base, 'log') : '/var/log/plancton') : undefined);
  const explicitRunDir = o.runDir ?? env.PLANCTON_RUN_DIR;
  // an explicit run directory holds its own pid file, so that two instances never share one
  const defaultPid = explicitRunDir
    ? join(explicitRunDir, 'plancton.pid')
    : userMode
      ? join(base, 'plancton.pid')
      : '/var/run/plancton.pid';
  return {
    runDir: explicitRunDir ?? (userMode ? base : '/var/run/plancton'),
    pidFile: o.pidFile ?? env.PLANCTON_PID_FILE ?? defaultPid,
    logDir: logDir === '' ? undefined : logDir,
    configFile: explicitConfig ?? DEFAULT_CONFIG,
    configRequired: explicitConfig !== undefined,
  };
}
