import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { git, gitMaybe } from './bootstrap-git.ts';
import { BootstrapError, repoUrl, safeGitUrl, specText, type RepoSpec } from './bootstrap-spec.ts';

/**
 * 0.6's `plancton-bootstrap`: a configuration repository cloned into the configuration
 * directory, and (new) brought up to date when it is already there. A directory is Plancton's
 * own when its .git config carries the `plancton.bootstrap` mark; anything else is refused
 * unless forced, and forcing moves it aside, never deletes it. A clone or an update whose
 * configuration does not validate is not taken: the checkout stays on the last good commit.
 */
export interface BootstrapOptions {
  /** The configuration directory (0.6: /etc/plancton). */
  readonly dir: string;
  /** The configuration file's name in it, validated before a clone or an update is taken. */
  readonly configName: string;
  /** The repository; none with `dryrun`. */
  readonly spec?: RepoSpec | undefined;
  readonly gitBase: string;
  /** Replace a directory that is not Plancton's own clone, or has local changes (it is moved to DIR.bak-TIME). */
  readonly force?: boolean | undefined;
  /** 0.6's --dryrun: no repository, an empty configuration (Plancton's defaults: busybox pilots that sleep). */
  readonly dryrun?: boolean | undefined;
  /** Throws (a ConfigError naming the keys) when a configuration text is not valid. */
  readonly validate: (text: string, origin: string) => void;
  readonly signal?: AbortSignal | undefined;
  /** Longest a git command may take (default 120 s). */
  readonly timeoutMs?: number | undefined;
  readonly now?: (() => number) | undefined;
}

export interface BootstrapResult {
  readonly action: 'cloned' | 'updated' | 'unchanged';
  readonly dir: string;
  /** What the directory holds now: `user/repo[:branch]` or `--dryrun`. */
  readonly source: string;
  readonly commit: string;
  /** Where --force moved what was there before. */
  readonly backup?: string | undefined;
}

/** The git config key that marks a clone as Plancton's own, with the spec it was made from. */
export const MARK = 'plancton.bootstrap';
const DRYRUN = '--dryrun';
export const DRYRUN_CONFIG =
  '# Written by `plancton bootstrap --dryrun`: an empty configuration, so Plancton runs on its\n# defaults (busybox pilots that sleep). Replace it with `plancton bootstrap user/repo[:branch]`.\n';

type DirState =
  | { readonly kind: 'absent' | 'empty' }
  | { readonly kind: 'own'; readonly mark: string; readonly url: string | undefined; readonly changed: string }
  | { readonly kind: 'foreign'; readonly why: string };

export async function bootstrap(o: BootstrapOptions): Promise<BootstrapResult> {
  if (!o.dryrun && !o.spec)
    throw new BootstrapError('name a configuration repository, user/repo[:branch], or use --dryrun', { refused: true });
  const wanted = o.dryrun || !o.spec ? DRYRUN : specText(o.spec);
  const url = o.dryrun || !o.spec ? undefined : repoUrl(o.gitBase, o.spec);
  const state = await inspect(o.dir, o.signal);
  if (state.kind === 'own' && state.mark === wanted && (url === undefined || state.url === url) && !state.changed) {
    if (!url || !o.spec)
      return {
        action: 'unchanged',
        dir: o.dir,
        source: wanted,
        commit: await git(['rev-parse', 'HEAD'], { cwd: o.dir, signal: o.signal }),
      };
    return update(o, o.spec);
  }
  if (!o.force) {
    if (state.kind === 'own' && state.changed) {
      throw new BootstrapError(
        `${o.dir} has local changes (${state.changed.split('\n').join(', ')}): commit or undo them, or use --force, which moves the directory aside`,
        { refused: true },
      );
    }
    if (state.kind === 'foreign') {
      throw new BootstrapError(
        `${o.dir} holds a configuration plancton bootstrap did not make (${state.why}); move it away, or use --force, which moves it aside`,
        { refused: true },
      );
    }
  }
  // a fresh tree goes in: straight into an absent or empty directory (which may be a mount
  // point), else beside it and then swapped in, so that a failed clone changes nothing
  const direct = state.kind === 'absent' || state.kind === 'empty';
  const target = direct ? o.dir : join(dirname(o.dir), `.${basename(o.dir)}.plancton-new-${process.pid}`);
  if (!direct) await rm(target, { recursive: true, force: true });
  let commit: string;
  try {
    commit = await fresh(o, target, wanted, url);
  } catch (err) {
    await (state.kind === 'empty' ? emptyDir(o.dir) : rm(target, { recursive: true, force: true }));
    throw err;
  }
  if (direct) return { action: 'cloned', dir: o.dir, source: wanted, commit };
  // Plancton's own clean clone holds nothing its remote does not: it goes; anything else is kept
  const keep = state.kind === 'foreign' || (state.kind === 'own' && state.changed !== '');
  const aside = keep ? `${o.dir}.bak-${stamp(o.now?.() ?? Date.now())}` : `${target}-old`;
  try {
    await rename(o.dir, aside);
  } catch (err) {
    await rm(target, { recursive: true, force: true });
    // a mount point (a volume at /etc/plancton) cannot be renamed: its content would have to go
    throw new BootstrapError(
      `cannot move ${o.dir} aside (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); if it is a mount point, empty it and run again`,
      { cause: err },
    );
  }
  await rename(target, o.dir);
  if (!keep) await rm(aside, { recursive: true, force: true });
  return { action: 'cloned', dir: o.dir, source: wanted, commit, backup: keep ? aside : undefined };
}

async function inspect(dir: string, signal: AbortSignal | undefined): Promise<DirState> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'absent' };
    if (code === 'ENOTDIR') return { kind: 'foreign', why: 'it is a file' };
    throw err;
  }
  if (entries.length === 0) return { kind: 'empty' };
  if (!entries.includes('.git')) return { kind: 'foreign', why: 'it is not a git clone' };
  const mark = await gitMaybe(['config', '--local', '--get', MARK], { cwd: dir, signal });
  if (!mark) return { kind: 'foreign', why: 'a git clone without the plancton.bootstrap mark' };
  const url = await gitMaybe(['config', '--local', '--get', 'remote.origin.url'], { cwd: dir, signal });
  // untracked files (a local secret beside config.yaml) are no change: updates never touch them
  const changed = await git(['diff', '--name-only', 'HEAD', '--'], { cwd: dir, signal });
  return { kind: 'own', mark, url, changed };
}

/** Clones (or, for --dryrun, makes) the tree in `target` and marks it; the clone's configuration must validate. */
async function fresh(o: BootstrapOptions, target: string, wanted: string, url: string | undefined): Promise<string> {
  const run = (args: readonly string[], cwd?: string): Promise<string> =>
    git(args, { cwd, signal: o.signal, timeoutMs: o.timeoutMs });
  if (url === undefined) {
    await mkdir(target, { recursive: true });
    await run(['init', '--quiet'], target);
    await writeFile(join(target, o.configName), DRYRUN_CONFIG);
    await run(['add', '--', o.configName], target);
    await run(
      [
        '-c',
        'user.name=plancton',
        '-c',
        'user.email=plancton@localhost',
        'commit',
        '--quiet',
        '-m',
        'plancton bootstrap --dryrun',
      ],
      target,
    );
  } else {
    await mkdir(dirname(target), { recursive: true });
    const branch = o.spec?.branch ? ['--branch', o.spec.branch] : [];
    await run(['clone', '--quiet', ...branch, '--', url, target]);
    let text: string;
    try {
      text = await readFile(join(target, o.configName), 'utf8');
    } catch {
      throw new BootstrapError(`${wanted} (${safeGitUrl(url)}) has no ${o.configName} at its top`);
    }
    o.validate(text, `${wanted}:${o.configName}`);
  }
  await run(['config', '--local', MARK, wanted], target);
  return run(['rev-parse', 'HEAD'], target);
}

/** Brings Plancton's own clean clone up to the remote branch, if the new configuration validates. */
async function update(o: BootstrapOptions, spec: RepoSpec): Promise<BootstrapResult> {
  const run = (args: readonly string[]): Promise<string> =>
    git(args, { cwd: o.dir, signal: o.signal, timeoutMs: o.timeoutMs });
  const wanted = specText(spec);
  await run(['fetch', '--quiet', 'origin', spec.branch ?? 'HEAD']);
  const [head, next] = [await run(['rev-parse', 'HEAD']), await run(['rev-parse', 'FETCH_HEAD'])];
  if (head === next) return { action: 'unchanged', dir: o.dir, source: wanted, commit: head };
  let text: string;
  try {
    text = await run(['show', `FETCH_HEAD:${o.configName}`]);
  } catch {
    throw new BootstrapError(`${wanted} at ${next.slice(0, 12)} has no ${o.configName}; keeping ${head.slice(0, 12)}`);
  }
  o.validate(`${text}\n`, `${wanted}@${next.slice(0, 12)}:${o.configName}`);
  // --keep: never overwrites a local change or an untracked file in the way; git says which
  await run(['reset', '--quiet', '--keep', 'FETCH_HEAD']);
  return { action: 'updated', dir: o.dir, source: wanted, commit: next };
}

async function emptyDir(dir: string): Promise<void> {
  for (const entry of await readdir(dir).catch(() => [])) await rm(join(dir, entry), { recursive: true, force: true });
}

function stamp(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}
