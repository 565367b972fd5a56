/**
 * Configuration repositories served on loopback by a real `git daemon` (git://127.0.0.1:PORT),
 * as `plancton bootstrap` clones them from GitHub: bare repositories under a base path, and a
 * work clone per repository through which tests commit and push new configurations.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { waitFor } from './docker.ts';
import { freePort } from './registry.ts';

const AUTHOR = ['-c', 'user.name=plancton-test', '-c', 'user.email=plancton-test@localhost'];

async function git(args: readonly string[], cwd?: string): Promise<string> {
  const r = await execa('git', [...AUTHOR, ...args], { cwd, reject: false, env: { GIT_TERMINAL_PROMPT: '0' } });
  if (r.failed) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}

export class GitServer {
  readonly root = mkdtempSync(join(tmpdir(), 'plancton-git-'));
  port = 0;
  #proc: ResultPromise | undefined;

  /** `git://127.0.0.1:PORT`: the git base URL that `plancton bootstrap --git-base` takes. */
  get base(): string {
    return `git://127.0.0.1:${this.port}`;
  }

  /** Starts (or restarts, on the same port) `git daemon`; resolves once it serves. */
  async start(): Promise<this> {
    mkdirSync(join(this.root, 'srv'), { recursive: true });
    if (this.port === 0) this.port = await freePort();
    const proc = execa(
      'git',
      [
        'daemon',
        '--reuseaddr',
        '--export-all',
        `--base-path=${join(this.root, 'srv')}`,
        '--listen=127.0.0.1',
        `--port=${this.port}`,
        join(this.root, 'srv'),
      ],
      { reject: false },
    );
    this.#proc = proc;
    let exited = false;
    void proc.finally(() => void (exited = true));
    await waitFor(
      `git daemon on ${this.base}`,
      async () => {
        if (exited) throw new Error(`git daemon exited: ${String((await proc).stderr)}`);
        const probe = await execa('git', ['ls-remote', `${this.base}/nothing/here`], { reject: false });
        // a served daemon answers even for a missing repository ("not exported" / "no such")
        return /not exported|No such|does not appear|access denied/i.test(probe.stderr) ? true : undefined;
      },
      30_000,
      200,
    );
    return this;
  }

  async stop(): Promise<void> {
    this.#proc?.kill('SIGTERM');
    await this.#proc;
    this.#proc = undefined;
  }

  /** A new bare repository `name` (user/repo) with a first commit of `files` on `main`. */
  async create(name: string, files: Record<string, string>): Promise<void> {
    const bare = join(this.root, 'srv', name);
    mkdirSync(bare, { recursive: true });
    await git(['init', '--quiet', '--bare', '--initial-branch=main', bare]);
    const work = this.#work(name);
    await git(['clone', '--quiet', bare, work]);
    await git(['symbolic-ref', 'HEAD', 'refs/heads/main'], work);
    await this.commit(name, files, 'first configuration');
  }

  /** Commits `files` (content; null removes) on `branch` (created from main when new) and pushes it. */
  async commit(
    name: string,
    files: Record<string, string | null>,
    message = 'change',
    branch = 'main',
  ): Promise<string> {
    const work = this.#work(name);
    const exists = await execa('git', ['rev-parse', '--verify', '--quiet', branch], { cwd: work, reject: false });
    await git(['checkout', '--quiet', ...(exists.failed ? ['-b', branch] : [branch])], work);
    for (const [file, content] of Object.entries(files)) {
      if (content === null) await git(['rm', '--quiet', '--', file], work);
      else {
        writeFileSync(join(work, file), content);
        await git(['add', '--', file], work);
      }
    }
    await git(['commit', '--quiet', '--allow-empty', '-m', message], work);
    await git(['push', '--quiet', 'origin', branch], work);
    const head = await git(['rev-parse', 'HEAD'], work);
    await git(['checkout', '--quiet', 'main'], work);
    return head;
  }

  #work(name: string): string {
    return join(this.root, 'work', name);
  }

  async cleanup(): Promise<void> {
    await this.stop();
    rmSync(this.root, { recursive: true, force: true });
  }
}
