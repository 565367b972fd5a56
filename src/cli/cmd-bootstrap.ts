import { basename, dirname } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { bootstrap } from '../config/source/bootstrap.ts';
import { BootstrapError, DEFAULT_GIT_BASE, parseRepoSpec } from '../config/source/bootstrap-spec.ts';
import { loadConfig } from '../config/load.ts';
import { readHostFacts } from '../host/host-facts.ts';
import { UsageError, type Cli } from './args.ts';
import { pathsOf } from './setup.ts';

/**
 * `plancton bootstrap user/repo[:branch]` (0.6's `plancton-bootstrap`): clones the configuration
 * repository into the configuration directory, or updates Plancton's own clone there;
 * `--dryrun` writes an empty configuration instead (0.6's), `--force` replaces a directory that
 * is not Plancton's own clone (moving it aside). Exit 0 done, 1 refused or failed, 2 the
 * repository's configuration is invalid (nothing changed).
 */
export async function bootstrapCommand(
  cli: Cli,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const [, repo, extra] = cli.words;
  if (extra !== undefined) throw new UsageError('bootstrap takes one repository, user/repo[:branch]');
  if (cli.opts.dryrun && repo !== undefined) throw new UsageError('bootstrap --dryrun takes no repository');
  if (!cli.opts.dryrun && repo === undefined)
    throw new UsageError('bootstrap needs a configuration repository, user/repo[:branch] (or --dryrun)');
  const paths = pathsOf(cli);
  const dir = dirname(paths.configFile);
  try {
    const r = await bootstrap({
      dir,
      configName: basename(paths.configFile),
      spec: repo === undefined ? undefined : parseRepoSpec(repo),
      gitBase: cli.opts.gitBase ?? (process.env.PLANCTON_CONF_GIT_BASE || DEFAULT_GIT_BASE),
      force: cli.opts.force,
      dryrun: cli.opts.dryrun,
      validate: (text, origin) =>
        void loadConfig({ text, file: origin, env: process.env, args: cli.configArgs, hostFacts: readHostFacts }),
    });
    const commit = r.commit.slice(0, 12);
    if (r.backup) out.write(`moved the previous ${dir} to ${r.backup}\n`);
    if (r.action === 'unchanged') out.write(`${dir} already holds ${r.source} at ${commit}\n`);
    else if (r.source === '--dryrun')
      out.write(
        `wrote an empty configuration into ${dir}: Plancton runs on its defaults (busybox pilots that sleep)\n`,
      );
    else out.write(`${r.action} ${r.source} (${commit}) into ${dir}\n`);
    if (r.action !== 'unchanged')
      out.write('a running Plancton takes it at its next re-read (updateconfig); else start it: plancton start\n');
    return 0;
  } catch (e) {
    if (e instanceof BootstrapError) {
      err.write(`plancton bootstrap: ${e.message}\n`);
      return 1;
    }
    if (e instanceof ConfigError) {
      err.write(
        `plancton bootstrap: the configuration of ${repo ?? ''} is INVALID, ${dir} is unchanged:\n${e.problems.map((p) => `  ${p.key}: ${p.message}`).join('\n')}\n`,
      );
      return 2;
    }
    throw e;
  }
}
