/** The page cache a cgroup has dirtied and not yet written, from its `memory.stat`, pure. */
import { ProcParseError } from '../core/errors.ts';

/**
 * Bytes dirty or under writeback: cgroup v1 `dirty` + `writeback`, v2 `file_dirty` +
 * `file_writeback`. On cgroup v1 the flusher writes these back as the root cgroup, so this is
 * where a pilot's buffered writes show before they reach the disk.
 * @param file - Named in errors.
 * @throws ProcParseError when neither pair is there or a value is not a count.
 */
export function parseDirtyBytes(text: string, file = 'memory.stat'): number {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) values.set(key, value);
  }
  const pair = values.has('file_dirty') ? ['file_dirty', 'file_writeback'] : ['dirty', 'writeback'];
  let total = 0;
  for (const key of pair) {
    const v = values.get(key);
    if (v === undefined || !/^\d+$/.test(v)) throw new ProcParseError(file, `missing or malformed ${key}`);
    total += Number(v);
  }
  return total;
}
