import { readFile } from 'node:fs/promises';
import { parseMeminfo } from './meminfo.ts';
import { parsePressure } from './pressure.ts';
import type { MemorySample, Pressure } from '../core/types.ts';

/**
 * Reads /proc/meminfo (and PSI memory) a few times a second, between iterations, and calls
 * `onShort` as soon as `isShort` says memory is short, so that pilots go before the kernel's OOM
 * killer picks an owner's process. Two small file reads per tick; nothing else.
 */
export class MemoryWatch {
  readonly #timer: NodeJS.Timeout;
  #busy = false;

  constructor(procRoot: string, intervalMs: number, isShort: (m: MemorySample, psi: Pressure | undefined) => boolean, onShort: () => void) {
    this.#timer = setInterval(() => {
      if (this.#busy) return;
      this.#busy = true;
      void Promise.all([
        readFile(`${procRoot}/meminfo`, 'utf8').then((t) => parseMeminfo(t)),
        readFile(`${procRoot}/pressure/memory`, 'utf8').then((t) => parsePressure(t), () => undefined),
      ])
        .then(([m, psi]) => {
          if (isShort(m, psi)) onShort();
        })
        .catch(() => undefined)
        .finally(() => {
          this.#busy = false;
        });
    }, intervalMs);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
