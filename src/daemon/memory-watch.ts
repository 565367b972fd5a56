import type { MemoryReading } from '../host/observer.ts';

/**
 * Reads MemAvailable (and PSI memory) a few times a second, between passes, through the host
 * observer, and calls `onShort` as soon as `isShort` says memory is short, so that pilots go
 * before the kernel's OOM killer picks an owner's process. Two small file reads per tick.
 */
export class MemoryWatch {
  readonly #timer: NodeJS.Timeout;
  #busy = false;

  constructor(
    read: () => Promise<MemoryReading>,
    intervalMs: number,
    isShort: (m: MemoryReading) => boolean,
    onShort: () => void,
  ) {
    this.#timer = setInterval(() => {
      if (this.#busy) return;
      this.#busy = true;
      void read()
        .then((m) => {
          if (isShort(m)) onShort();
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
