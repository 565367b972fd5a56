import { ConfigError, EngineError } from '../core/errors.ts';
import { parseCli, UsageError, type Cli } from './args.ts';
import { bootstrapCommand } from './cmd-bootstrap.ts';
import { configCommand } from './cmd-config.ts';
import { drain, forceStop, resume, stop } from './cmd-control.ts';
import { runForeground, startDetached } from './cmd-run.ts';
import { health, status } from './cmd-status.ts';
import { VERSION } from './setup.ts';

type Io = { out: NodeJS.WritableStream; err: NodeJS.WritableStream };
type Command = (cli: Cli, io: Io, argv: readonly string[]) => Promise<number> | number;

const COMMANDS: Record<string, Command> = {
  run: (cli, io) => runForeground(cli, io.err),
  start: (cli, io, argv) => startDetached(cli, argv, io.out),
  'force-start': async (cli, io, argv) => (await resume(cli, io.out)) || startDetached(cli, argv, io.out),
  status: (cli, io) => status(cli, io.out),
  health: (cli, io) => health(cli, io.out),
  drain: (cli, io) => drain(cli, cli.opts.stop === true, io.out),
  'drain-stop': (cli, io) => drain(cli, true, io.out),
  resume: (cli, io) => resume(cli, io.out),
  stop: (cli, io) => stop(cli, io.out),
  'force-stop': (cli, io) => forceStop(cli, io.out),
  config: (cli, io) => configCommand(cli, cli.words[1] ?? 'check', cli.words[2], io.out, io.err),
  bootstrap: (cli, io) => bootstrapCommand(cli, io.out, io.err),
};

const PLANCTON_HELP = `Usage: plancton <command> [options] [--<config_key> <value> ...]

Commands:
  run                 run the daemon in the foreground (what the container runs)
  status [--json]     show the daemon, the host and the pilots (exit 3 when not running)
  health              exit 0 when the daemon iterates and reaches the engine, else 1 (for probes)
  drain [--stop]      start no new pilots; with --stop, exit once none is left
  resume              leave drain / drain-stop
  stop                stop the daemon gracefully; pilots keep running
  force-stop          remove every pilot this instance owns, then stop the daemon
  config check [FILE] validate the configuration and print the effective one
  config show         print the effective configuration and where each value came from
  bootstrap REPO      clone user/repo[:branch] into the configuration directory, or update
                      Plancton's own clone there (0.6's plancton-bootstrap); --force replaces a
                      directory it did not make (moved aside), --dryrun writes an empty config,
                      --git-base URL (env PLANCTON_CONF_GIT_BASE; default https://github.com)
  start | force-start daemonise (as planctonctl)

Options:
  -c, --config FILE   configuration file (default /etc/plancton/config.yaml; env PLANCTON_CONFIG)
  --run-dir DIR       control and status files (env PLANCTON_RUN_DIR; /var/run/plancton as root, else ~/.plancton)
  --pid-file FILE     (env PLANCTON_PID_FILE)   --log-dir DIR  rotating log file (env PLANCTON_LOG_DIR)
  --user              keep state under ~/.plancton even as root
  --timeout SEC       how long stop / force-stop wait for the daemon (default 120)
  --<key> VALUE       any configuration key, above file and environment (e.g. --max_docks 4)
`;

const CTL_HELP = `Usage: planctonctl [options] start|force-start|stop|force-stop|status|nodaemon|drain|drain-stop|resume|help

  start        start the daemon in the background (pid file, log directory)
  force-start  resume, then start
  stop         stop the daemon; pilots keep running
  force-stop   remove all pilots, then stop the daemon
  status       show status
  nodaemon     run in the foreground
  drain        start no new pilots
  drain-stop   drain, then exit once no pilot is left
  resume       leave drain / drain-stop
Options: --user --logdir DIR --rundir DIR --pidfile FILE --confdir DIR (as in 0.6), and those of \`plancton help\`.
`;

/** Runs one command line; returns the exit code (0 ok, 1 failure, 2 bad usage or configuration, 3 not running). */
export async function main(
  argv: readonly string[],
  flavour: 'plancton' | 'planctonctl',
  io: Io = { out: process.stdout, err: process.stderr },
): Promise<number> {
  const help = flavour === 'plancton' ? PLANCTON_HELP : CTL_HELP;
  try {
    const cli = parseCli(argv);
    let word = cli.words[0];
    if (cli.opts.version) return (void io.out.write(`${VERSION}\n`), 0);
    if (flavour === 'planctonctl' && word === 'nodaemon') word = 'run';
    if (!word || word === 'help' || cli.opts.help) return (void io.out.write(help), word || cli.opts.help ? 0 : 2);
    const command = COMMANDS[word];
    if (!command) throw new UsageError(`unknown command '${word}'`);
    return await command(cli, io, argv);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err.write(`${flavour}: ${e.message}\n\n${help}`);
      return 2;
    }
    if (e instanceof ConfigError) {
      io.err.write(
        `${flavour}: invalid configuration:\n${e.problems.map((p) => `  ${p.key}: ${p.message}`).join('\n')}\n`,
      );
      return 2;
    }
    io.err.write(`${flavour}: ${e instanceof EngineError ? 'engine: ' : ''}${(e as Error).message}\n`);
    return 1;
  }
}
