import { parseArgs } from 'node:util';
import { KEYS } from '../config/schema/keys.ts';

/** A parsed command line: the command words, Plancton's own options, and `--<key>` config overrides. */
export interface Cli {
  readonly words: string[];
  readonly opts: {
    config?: string | undefined;
    confDir?: string | undefined;
    runDir?: string | undefined;
    pidFile?: string | undefined;
    logDir?: string | undefined;
    user?: boolean | undefined;
    json?: boolean | undefined;
    stop?: boolean | undefined;
    timeout?: string | undefined;
    help?: boolean | undefined;
    version?: boolean | undefined;
    force?: boolean | undefined;
    dryrun?: boolean | undefined;
    gitBase?: string | undefined;
  };
  /** `--max_docks 3` and the like, handed to the configuration as the highest-precedence layer. */
  readonly configArgs: string[];
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const CONFIG_KEYS = new Set<string>(KEYS);

/** The command line's own options (configuration keys aside); 0.6's spellings too. */
const OPTIONS = {
  config: { type: 'string', short: 'c' },
  'conf-dir': { type: 'string' },
  confdir: { type: 'string' },
  'run-dir': { type: 'string' },
  rundir: { type: 'string' },
  'pid-file': { type: 'string' },
  pidfile: { type: 'string' },
  'log-dir': { type: 'string' },
  logdir: { type: 'string' },
  user: { type: 'boolean' },
  json: { type: 'boolean' },
  stop: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  force: { type: 'boolean' },
  dryrun: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  'git-base': { type: 'string' },
} as const;

/** `--<config key> VALUE` and `--<config key>=VALUE` apart from the rest. */
function splitConfigArgs(argv: readonly string[]): { configArgs: string[]; rest: string[] } {
  const configArgs: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const m = /^--([a-z_]+)(=.*)?$/.exec(a);
    if (m && CONFIG_KEYS.has(m[1] ?? '')) {
      if (m[2] !== undefined) configArgs.push(a);
      else {
        const v = argv[i + 1];
        if (v === undefined) throw new UsageError(`--${m[1]} needs a value`);
        configArgs.push(a, v);
        i++;
      }
    } else rest.push(a);
  }
  return { configArgs, rest };
}

/** Parses argv (without node and script); 0.6's option spellings (--rundir, --logdir, --pidfile, --confdir) are accepted. */
export function parseCli(argv: readonly string[]): Cli {
  const { configArgs, rest } = splitConfigArgs(argv);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  return {
    words: parsed.positionals,
    opts: {
      config: v.config,
      confDir: v['conf-dir'] ?? v.confdir,
      runDir: v['run-dir'] ?? v.rundir,
      pidFile: v['pid-file'] ?? v.pidfile,
      logDir: v['log-dir'] ?? v.logdir,
      user: v.user,
      json: v.json,
      stop: v.stop,
      timeout: v.timeout,
      help: v.help,
      version: v.version,
      force: v.force,
      dryrun: v.dryrun ?? v['dry-run'],
      gitBase: v['git-base'],
    },
    configArgs,
  };
}
