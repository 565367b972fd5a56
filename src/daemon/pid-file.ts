import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The pid in `file` if that process is alive, else undefined (a stale file counts as none). */
export async function runningPid(file: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: alive but another user's
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/** Claims the pid file for this process; fails when another live process holds it. */
export async function claimPidFile(file: string): Promise<void> {
  const other = await runningPid(file);
  if (other !== undefined && other !== process.pid) {
    throw new Error(`another Plancton is running with pid ${other} (pid file ${file})`);
  }
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${process.pid}\n`, { mode: 0o644 });
}

/** Removes the pid file if it is ours. */
export async function releasePidFile(file: string): Promise<void> {
  if ((await runningPid(file)) === process.pid) await rm(file, { force: true });
}
