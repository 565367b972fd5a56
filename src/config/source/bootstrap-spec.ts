/**
 * 0.6's `plancton-bootstrap user/repo[:branch]` argument, and the repository URL it stands for.
 * Pure: no I/O.
 */

/** Where `user/repo` lives unless told otherwise (0.6 cloned from GitHub only). */
export const DEFAULT_GIT_BASE = 'https://github.com';

/** A configuration repository: `user/repo` under the git base, and a branch (none: the remote's default). */
export interface RepoSpec {
  readonly repo: string;
  readonly branch?: string | undefined;
}

/** A bootstrap that cannot or must not go on; the message says why and what to do. */
export class BootstrapError extends Error {
  override readonly name = 'BootstrapError';
  /** True when Plancton refused (not its own directory, local changes, a bad name): trying again will not help. */
  readonly refused: boolean;

  constructor(message: string, opts: { refused?: boolean; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.refused = opts.refused ?? false;
  }
}

const REPO = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)+$/;
// git's own ref rules, in the part that matters here: no option look-alike, no `..`, no spaces
const BRANCH = /^[A-Za-z0-9_][A-Za-z0-9_./-]*$/;

/** Parses `user/repo[:branch]`; as 0.6 did, the branch is what follows the last colon. */
export function parseRepoSpec(text: string): RepoSpec {
  const s = text.trim();
  const colon = s.lastIndexOf(':');
  const repo = colon < 0 ? s : s.slice(0, colon);
  const branch = colon < 0 ? undefined : s.slice(colon + 1);
  if (!REPO.test(repo) || repo.split('/').some((part) => part === '..' || part.endsWith('.lock'))) {
    throw new BootstrapError(
      `"${s}" is not a configuration repository: write user/repo[:branch], e.g. mconcas/plancton-conf:dryrun`,
      { refused: true },
    );
  }
  if (
    branch !== undefined &&
    (!BRANCH.test(branch) || branch.includes('..') || branch.endsWith('/') || branch.endsWith('.lock'))
  ) {
    throw new BootstrapError(`"${branch}" is not a branch name (in "${s}")`, { refused: true });
  }
  return { repo: repo.replace(/\.git$/, ''), branch };
}

/** `user/repo[:branch]`, as the user wrote it. */
export function specText(spec: RepoSpec): string {
  return spec.branch ? `${spec.repo}:${spec.branch}` : spec.repo;
}

/** The clone URL: the git base (https://, http://, git://, ssh://, or a local path) and the repository. */
export function repoUrl(gitBase: string, spec: RepoSpec): string {
  const base = gitBase.trim().replace(/\/+$/, '');
  if (!base) throw new BootstrapError('the git base URL is empty', { refused: true });
  return `${base}/${spec.repo}`;
}

/** A URL without its password, for messages (git bases may carry a token as user:token@). */
export function safeGitUrl(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}
