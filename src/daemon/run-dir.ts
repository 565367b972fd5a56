import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Controls } from '../core/types.ts';

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

  async ensure(): Promise<void> {
    await mkdir(this.path, { recursive: true, mode: 0o700 });
  }

  async readControls(): Promise<Controls> {
    const [drain, drainStop, forceStop] = await Promise.all([this.has('drain'), this.has('drainStop'), this.has('forceStop')]);
    return { drain, drainStop, forceStop };
  }

  async has(flag: Flag): Promise<boolean> {
    try {
      await stat(join(this.path, FLAGS[flag]));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async set(flag: Flag, note: string): Promise<void> {
    await this.ensure();
    await writeFile(join(this.path, FLAGS[flag]), `${new Date().toISOString()} ${note}\n`, { mode: 0o600 });
  }

  async clear(flag: Flag): Promise<void> {
    await rm(join(this.path, FLAGS[flag]), { force: true });
  }

  /** Writes the status atomically (rename), so readers never see half a file. */
  async writeStatus(status: unknown): Promise<void> {
    const tmp = join(this.path, `.${STATUS_FILE}.${process.pid}`);
    await writeFile(tmp, `${JSON.stringify(status, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, join(this.path, STATUS_FILE));
  }

  async readStatus(): Promise<unknown> {
    try {
      return JSON.parse(await readFile(join(this.path, STATUS_FILE), 'utf8')) as unknown;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}
