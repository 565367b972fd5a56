import { BootstrapError } from './bootstrap-spec.ts';

export interface GitOptions {
  /** Run in this directory (`git -C`). */
  readonly cwd?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  /** A hung server fails the command instead of hanging the daemon's reload. */
  readonly timeoutMs?: number | undefined;
}

/** Passwords in URLs (`//user:token@host`) anywhere in git's messages, masked. */
export function redactUrls(text: string): string {
  return text.replace(/\/\/([^:/@\s]*):[^@/\s]*@/g, '//$1:***@');
}

/**
 * Runs git through execa and resolves to its trimmed stdout. It never prompts (no terminal, no
 * askpass: a repository that wants a password fails at once); a failure is a BootstrapError
 * carrying git's own message, with URL passwords masked.
 */
export async function git(args: readonly string[], o: GitOptions = {}): Promise<string> {
  const cmd = ['-c', 'core.askpass=true', ...(o.cwd ? ['-C', o.cwd] : []), ...args];
  // loaded on first use: a daemon without a git source never pays for execa's modules
  const { execa } = await import('execa');
  const r = await execa('git', cmd, {
    reject: false,
    stdin: 'ignore',
    timeout: o.timeoutMs ?? 120_000,
    cancelSignal: o.signal,
    env: { GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', LC_ALL: 'C' },
  });
  if (!r.failed) return r.stdout.trim();
  if ((r as { code?: string }).code === 'ENOENT')
    throw new BootstrapError('git is not installed (apt-get install git)');
  const detail = r.timedOut
    ? `timed out after ${(o.timeoutMs ?? 120_000) / 1000} s`
    : r.isCanceled
      ? 'cancelled'
      : r.stderr.trim() || (r.shortMessage ?? 'unknown error');
  // one line, so that a log record or a status field holds all of it
  const oneLine = detail
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
  throw new BootstrapError(`git ${args[0] ?? ''} failed: ${redactUrls(oneLine)}`);
}

/** Like {@link git}, but undefined instead of an error (for questions such as "is this key set?"). */
export async function gitMaybe(args: readonly string[], o: GitOptions = {}): Promise<string | undefined> {
  try {
    return await git(args, o);
  } catch (err) {
    if (err instanceof BootstrapError && /not installed/.test(err.message)) throw err;
    return undefined;
  }
}
