/** `/proc/<pid>/io`, pure. */
import { ProcParseError } from '../core/errors.ts';

/**
 * Bytes a process caused to be written to storage, net of what it truncated before writeback
 * (`write_bytes - cancelled_write_bytes`). The kernel counts `write_bytes` when the page is
 * dirtied, in the writer's own task, so it sees buffered writes that cgroup v1 charges to the
 * root cgroup when the flusher writes them back.
 * @param file - Named in errors.
 * @throws ProcParseError when either line is missing or not a count.
 */
export function parseProcIoWrites(text: string, file = '/proc/self/io'): number {
  const value = (key: string): number => {
    const m = new RegExp(`^${key}:\\s*(\\S+)\\s*$`, 'm').exec(text);
    if (!m || !/^\d+$/.test(m[1] ?? '')) throw new ProcParseError(file, `missing or malformed ${key}`);
    return Number(m[1]);
  };
  return Math.max(0, value('write_bytes') - value('cancelled_write_bytes'));
}
