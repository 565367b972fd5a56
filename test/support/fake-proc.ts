/**
 * A /proc for `host_proc` that describes a host of `ncpus` CPUs and plenty of memory, so that a
 * daemon on this 2-CPU, shared machine sees a known owner (the shares of pools are then exact
 * numbers, not the other engineers' load). `stat` is rewritten every 100 ms from the wall clock,
 * as the kernel would count it: idle, or `busy` percent busy from the moment it is set (an owner
 * rising or leaving); the pilots and the engine are real.
 */
import { mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const USER_HZ = 100;

export class FakeProc {
  readonly dir = mkdtempSync(join(tmpdir(), 'plancton-fake-proc-'));
  readonly #ncpus: number;
  #timer: NodeJS.Timeout | undefined;
  /** Jiffies of one CPU so far, busy and idle, up to #at (ms); every CPU counts alike. */
  #user = 0;
  #idle = 60 * USER_HZ;
  #at = Date.now();
  #busyPct = 0;

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
    // a suite skipped by a name pattern never runs its after(): the timer must not hold the process
    this.#timer.unref();
  }

  /** The share of every CPU busy from now on (percent); the time before counts at the share it had. */
  set busy(pct: number) {
    this.#write();
    this.#busyPct = pct;
  }

  get busy(): number {
    return this.#busyPct;
  }

  /** The jiffies grow with the wall clock, busy at the share set. */
  #write(): void {
    const now = Date.now();
    const jiffies = ((now - this.#at) / 1000) * USER_HZ;
    this.#at = now;
    this.#user += (jiffies * this.#busyPct) / 100;
    this.#idle += (jiffies * (100 - this.#busyPct)) / 100;
    const [user, idle] = [Math.floor(this.#user), Math.floor(this.#idle)];
    const line = (name: string, u: number, n: number): string => `${name} ${u} 0 0 ${n} 0 0 0 0 0 0`;
    const lines = [line('cpu ', user * this.#ncpus, idle * this.#ncpus)];
    for (let i = 0; i < this.#ncpus; i++) lines.push(line(`cpu${i}`, user, idle));
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
