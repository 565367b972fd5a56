import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { link, mkdir, rename, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { readFileNoFollow, writeFileNoFollow } from '../config/source/safe-file.ts';
import { checkDirSafe } from './run-dir.ts';

/**
 * The pid file: 0.6's `<pid>\n`, plus a second line `plancton <start time>` (the process's start
 * in clock ticks since boot, /proc/<pid>/stat field 22) so that a pid reused by another process
 * is never taken for Plancton, and never signalled by `plancton stop`.
 */

/** Start time of `pid` in clock ticks since boot, or undefined when it is gone or unreadable. */
export function startTimeOf(pid: number, procRoot = '/proc'): string | undefined {
  try {
    const stat = readFileSync(join(procRoot, String(pid), 'stat'), 'utf8');
    // the command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** What a pid file says. */
export function parsePidFile(text: string): { pid: number; start: string | undefined } | undefined {
  const [first = '', second = ''] = text.split('\n');
  const pid = Number.parseInt(first.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0 || String(pid) !== first.trim()) return undefined;
  const m = /^plancton (\d+)$/.exec(second.trim());
  return { pid, start: m?.[1] };
}

/**
 * The pid in `file` if that process is alive and is Plancton, else undefined (a stale file, or a
 * pid now used by another program, counts as none). Plancton is the process whose start time is
 * the one the file recorded; for a file without one (0.6's), a process whose command line names
 * plancton.
 */
export async function runningPid(file: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFileNoFollow(file);
  } catch {
    return undefined;
  }
  const parsed = parsePidFile(text);
  if (!parsed) return undefined;
  const { pid, start } = parsed;
  if (pid === process.pid) return pid;
  const now = startTimeOf(pid);
  if (now === undefined) return undefined;
  if (start !== undefined) return now === start ? pid : undefined;
  return /plancton/i.test(cmdlineOf(pid)) ? pid : undefined;
}

const locks = new Map<string, Server>();

/**
 * Holds a lock named after `path` for the life of this process: a Linux abstract unix socket,
 * which exactly one process can bind and which the kernel releases when that process dies, so
 * there is no stale lock to break and no window between checking and claiming.
 * Resolves false when another process holds it.
 */
async function holdLock(path: string): Promise<boolean> {
  const name = `\0plancton-lock-${createHash('sha256').update(path).digest('hex').slice(0, 32)}`;
  if (locks.has(name)) return true;
  const server = createServer();
  const ok = await new Promise<boolean>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err)));
    server.listen({ path: name }, () => resolve(true));
  });
  if (!ok) return false;
  server.unref();
  locks.set(name, server);
  return true;
}

/** A stable name for a path whose last component may not exist yet. */
function canonical(path: string): string {
  return join(realpathSync(dirname(path)), basename(path));
}

/**
 * Claims the pid file (and, when given, the run directory) for this process, atomically: a
 * second Plancton started at the same moment on the same pid file or run directory fails,
 * whatever the interleaving. The file is created with link() (fails if it exists) from a private
 * temporary file; a stale one (dead process, or not Plancton) is replaced by rename(), which is
 * safe because only the lock holder gets that far. Never follows a symlink.
 */
export async function claimPidFile(file: string, runDir?: string): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await checkDirSafe(dir, false, true);
  const taken = async (): Promise<string> => {
    const other = await runningPid(file);
    return `another Plancton is running${other !== undefined ? ` with pid ${other}` : ''} (pid file ${file}${runDir ? `, run directory ${runDir}` : ''})`;
  };
  if (!(await holdLock(`pid:${canonical(file)}`))) throw new Error(await taken());
  if (runDir !== undefined && !(await holdLock(`run:${realpathSync(runDir)}`))) throw new Error(await taken());
  const name = `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}`;
  await writeFileNoFollow(dir, name, `${process.pid}\nplancton ${startTimeOf(process.pid) ?? 0}\n`, 0o644);
  const tmp = join(dir, name);
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const other = await runningPid(file);
    // alive and Plancton, yet not holding our lock: another mount or network namespace sharing the file
    if (other !== undefined && other !== process.pid) throw new Error(await taken());
    await rename(tmp, file);
    return;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Removes the pid file if it is ours. */
export async function releasePidFile(file: string): Promise<void> {
  if ((await runningPid(file)) === process.pid) await rm(file, { force: true });
}
