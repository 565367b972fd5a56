/**
 * A /proc for `host_proc` that describes an idle host of `ncpus` CPUs and plenty of memory, so
 * that a daemon on this 2-CPU, shared machine divides a known amount of idle CPU (the shares of
 * pools are then exact numbers, not the other engineers' load). `stat` is rewritten every 100 ms
 * from the wall clock, all idle, as the kernel would count it; the pilots and the engine are real.
 */
import { mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const USER_HZ = 100;

export class FakeProc {
  readonly dir = mkdtempSync(join(tmpdir(), 'plancton-fake-proc-'));
  readonly #ncpus: number;
  readonly #t0 = Date.now() - 60_000;
  #timer: NodeJS.Timeout | undefined;

  constructor(ncpus: number) {
    this.#ncpus = ncpus;
    const kb = 64 * 1024 * 1024;
    writeFileSync(
      join(this.dir, 'meminfo'),
      `MemTotal: ${kb} kB\nMemFree: ${kb - 1024} kB\nMemAvailable: ${kb - 1024} kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n`,
    );
    mkdirSync(join(this.dir, 'pressure'));
    for (const r of ['cpu', 'memory', 'io'])
      writeFileSync(
        join(this.dir, 'pressure', r),
        'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
      );
    this.#write();
    this.#timer = setInterval(() => this.#write(), 100);
  }

  /** Every CPU idle since t0: idle jiffies grow with the wall clock. */
  #write(): void {
    const idle = Math.floor(((Date.now() - this.#t0) / 1000) * USER_HZ);
    const line = (name: string, n: number): string => `${name} 0 0 0 ${n} 0 0 0 0 0 0`;
    const lines = [line('cpu ', idle * this.#ncpus)];
    for (let i = 0; i < this.#ncpus; i++) lines.push(line(`cpu${i}`, idle));
    lines.push('ctxt 1', 'btime 1700000000', 'processes 1', 'procs_running 1', 'procs_blocked 0');
    const next = join(this.dir, 'stat.next');
    writeFileSync(next, `${lines.join('\n')}\n`);
    renameSync(next, join(this.dir, 'stat'));
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
