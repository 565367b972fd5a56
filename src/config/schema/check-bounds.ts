import type { ConfigProblem } from '../../core/errors.ts';
import { BYTES_MAX, outOfBounds, type Bound } from './bounds.ts';
import { BOUNDS, type NumericKey, type Settings } from './keys.ts';

/** Adds a problem for every numeric key out of its bounds; `skip` holds keys already reported. */
export function checkBounds(s: Readonly<Settings>, skip: ReadonlySet<string>, problems: ConfigProblem[]): void {
  for (const [key, b] of Object.entries(BOUNDS) as Array<[NumericKey, Bound]>) {
    const value = s[key];
    if (skip.has(key) || typeof value !== 'number') continue;
    const why = outOfBounds(value, b);
    if (why) problems.push({ key, message: why });
  }
  if (!skip.has('max_dock_mem') && !skip.has('max_dock_swap') && s.max_dock_mem + s.max_dock_swap > BYTES_MAX) {
    problems.push({
      key: 'max_dock_swap',
      message: 'max_dock_mem + max_dock_swap is too large to be an exact number of bytes',
    });
  }
}
