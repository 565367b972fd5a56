import { chmod, lstat, mkdir, realpath, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Controls } from '../core/decision.ts';
import { readFileNoFollow, writeFileNoFollow } from '../config/source/safe-file.ts';

/** A run directory (or pid file directory) Plancton must not use: named, with the reason. */
export class RunDirError extends Error {
  override readonly name = 'RunDirError';
}

const uid = (): number => (typeof process.getuid === 'function' ? process.getuid() : 0);

/**
 * Refuses a directory that another user could use to redirect Plancton's writes: `dir` itself
 * must be a real directory (not a symlink), and it and every directory above it (after the
 * system's own symlinks such as /var/run -> /run are resolved) must belong to root or to this
 * user and be writable by no one else, unless sticky (as /tmp).
 * @param tighten - `dir` itself, when it is this user's own but open to others (a Kubernetes
 *   emptyDir is created 0777), is made owner-only instead of refused: nothing in it is ever
 *   followed through a symlink, so what others may have put there cannot redirect a write.
 * @param trustedLink - `dir` may be a symlink that root or this user made in a directory that
 *   passes the same check (the pid file's directory: Debian's /var/run -> /run); its target is checked.
 */
export async function checkDirSafe(dir: string, tighten = false, trustedLink = false): Promise<void> {
  const me = uid();
  const check = (path: string, s: { uid: number; mode: number }): void => {
    if (s.uid !== 0 && s.uid !== me)
      throw new RunDirError(`${path} belongs to uid ${s.uid}, neither root nor this user (${me}): refusing ${dir}`);
    if ((s.mode & 0o022) !== 0 && (s.mode & 0o1000) === 0) {
      throw new RunDirError(
        `${path} is writable by ${s.mode & 0o002 ? 'everyone' : 'its group'} and not sticky (mode ${(s.mode & 0o7777).toString(8)}): refusing ${dir}`,
      );
    }
  };
  const ancestors = async (of: string): Promise<void> => {
    for (let p = await realpath(dirname(of)); ; p = dirname(p)) {
      check(p, await lstat(p));
      if (p === dirname(p)) break;
    }
  };
  let path = dir;
  let st = await lstat(path);
  if (st.isSymbolicLink()) {
    // trustedLink (the pid file's directory, e.g. Debian's /var/run -> /run): a link that root or this
    // user made in a directory only they can write, so nobody else could have planted it
    if (
      !trustedLink ||
      (st.uid !== 0 && st.uid !== me) ||
      !(await ancestors(path).then(
        () => true,
        () => false,
      ))
    ) {
      throw new RunDirError(
        `${dir} is a symlink: refusing it (a planted link would redirect Plancton's files); use the real directory`,
      );
    }
    path = await realpath(path);
    st = await lstat(path);
  }
  if (!st.isDirectory()) throw new RunDirError(`${dir} is not a directory`);
  if (tighten && st.uid === me && (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
    await chmod(path, 0o700);
    st = await lstat(path);
  }
  check(path, st);
  await ancestors(path);
}

/**
 * The run directory: 0.6's flag files (`drain`, `stop` for drain-stop, `force-stop`) that any
 * process with access can set, e.g. through `docker exec`, and that survive a daemon restart;
 * plus the daemon's status file. Created owner-only.
 */
export const FLAGS = { drain: 'drain', drainStop: 'stop', forceStop: 'force-stop' } as const;
export type Flag = keyof typeof FLAGS;

export const STATUS_FILE = 'status.json';

export class RunDir {
  readonly path: string;
  constructor(path: string) {
    this.path = path;
  }

  /** Creates the directory (owner-only), makes an open one of its own owner-only, and refuses it when it is unsafe (see checkDirSafe). */
  async ensure(): Promise<void> {
    await mkdir(this.path, { recursive: true, mode: 0o700 });
    await checkDirSafe(this.path, true);
  }

  async readControls(): Promise<Controls> {
    const [drain, drainStop, forceStop] = await Promise.all([
      this.has('drain'),
      this.has('drainStop'),
      this.has('forceStop'),
    ]);
    return { drain, drainStop, forceStop };
  }

  async has(flag: Flag): Promise<boolean> {
    try {
      await lstat(join(this.path, FLAGS[flag]));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async set(flag: Flag, note: string): Promise<void> {
    await this.ensure();
    await writeFileNoFollow(this.path, FLAGS[flag], `${new Date().toISOString()} ${note}\n`);
  }

  async clear(flag: Flag): Promise<void> {
    await rm(join(this.path, FLAGS[flag]), { force: true });
  }

  /** Writes the status atomically (rename), so readers never see half a file, and never through a symlink. */
  async writeStatus(status: unknown): Promise<void> {
    await writeFileNoFollow(this.path, STATUS_FILE, `${JSON.stringify(status, null, 2)}\n`);
  }

  async readStatus(): Promise<unknown> {
    try {
      return JSON.parse(await readFileNoFollow(join(this.path, STATUS_FILE))) as unknown;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}
