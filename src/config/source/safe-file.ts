import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes `name` in `dir` without ever following a symlink: the data goes into a fresh temporary
 * file (O_CREAT | O_EXCL | O_NOFOLLOW, random name) that is then renamed over `name`. rename()
 * replaces a symlink planted at `name` instead of writing through it, and readers never see half
 * a file. `dir` must be one the caller checked (see RunDir.ensure).
 */
export async function writeFileNoFollow(dir: string, name: string, data: string, mode = 0o600): Promise<void> {
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(data);
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, join(dir, name));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Reads `file` unless it is a symlink (ELOOP): a planted link must not make Plancton read another file. */
export async function readFileNoFollow(file: string): Promise<string> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!(await fh.stat()).isFile())
      throw Object.assign(new Error(`${file} is not a regular file`), { code: 'EINVAL' });
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}
