import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ProcParseError } from '../../../src/core/errors.ts';
import { cpuUsage, parseCpuTotal, parseProcStat } from '../../../src/host/proc-stat.ts';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/proc/${name}`, import.meta.url), 'utf8');

describe('parseProcStat', () => {
  it('reads the total and per-CPU counters of a real /proc/stat', () => {
    const stat = parseProcStat(fixture('stat.1'));
    assert.deepEqual(stat.total, {
      user: 4305,
      nice: 0,
      system: 2827,
      idle: 57166,
      iowait: 376,
      irq: 0,
      softirq: 46,
      steal: 17,
    });
    assert.deepEqual([...stat.cpus.keys()], [0, 1]);
    assert.deepEqual(stat.cpus.get(1), {
      user: 2606,
      nice: 0,
      system: 1719,
      idle: 27638,
      iowait: 353,
      irq: 0,
      softirq: 37,
      steal: 13,
    });
  });

  it('drops guest and guest_nice, which user and nice already contain', () => {
    const stat = parseProcStat('cpu  10 20 30 40 50 60 70 80 90 100\ncpu0 10 20 30 40 50 60 70 80 90 100\n');
    assert.deepEqual(stat.total, {
      user: 10,
      nice: 20,
      system: 30,
      idle: 40,
      iowait: 50,
      irq: 60,
      softirq: 70,
      steal: 80,
    });
  });

  it('defaults the fields old kernels do not print to 0', () => {
    const stat = parseProcStat('cpu  1 2 3 4\ncpu0 1 2 3 4\n');
    assert.deepEqual(stat.total, { user: 1, nice: 2, system: 3, idle: 4, iowait: 0, irq: 0, softirq: 0, steal: 0 });
  });

  it('keys CPUs by number, so gaps from offline CPUs stay visible', () => {
    assert.deepEqual([...parseProcStat(fixture('stat.hotplug.2')).cpus.keys()], [0, 1, 3]);
  });

  it('throws ProcParseError naming the file when there is no "cpu " line', () => {
    assert.throws(
      () => parseProcStat(fixture('garbage'), '/host/proc/stat'),
      (err: unknown) => {
        assert.ok(err instanceof ProcParseError);
        assert.equal(err.file, '/host/proc/stat');
        assert.match(err.message, /^\/host\/proc\/stat: no aggregate "cpu " line/);
        return true;
      },
    );
    assert.throws(() => parseProcStat('cpu0 1 2 3 4\n'), { name: 'ProcParseError', message: /^\/proc\/stat: / });
    assert.throws(() => parseProcStat(''), ProcParseError);
  });

  it('throws ProcParseError on a malformed or short CPU line', () => {
    assert.throws(() => parseProcStat('cpu  1 2 x 4\n', 'f'), {
      name: 'ProcParseError',
      message: /^f: malformed system counter "x"/,
    });
    assert.throws(() => parseProcStat('cpu  1 2 3\n', 'f'), {
      name: 'ProcParseError',
      message: /^f: expected at least 4 counters/,
    });
    assert.throws(() => parseProcStat('cpu  1 2 3 4\ncpu0 1 -2 3 4\n', 'f'), {
      name: 'ProcParseError',
      message: /nice counter "-2"/,
    });
  });
});

describe('parseCpuTotal', () => {
  it('reads the same aggregate counters as parseProcStat, from the first line or a later one', () => {
    const text = fixture('stat.1');
    assert.deepEqual(parseCpuTotal(text), parseProcStat(text).total);
    const later = `intr 1 2 3\n${text}`;
    assert.deepEqual(parseCpuTotal(later), parseProcStat(text).total);
    assert.deepEqual(parseCpuTotal('cpu  1 2 3 4'), { ...parseProcStat('cpu  1 2 3 4').total });
  });

  it('names the file and the problem when the aggregate line is missing or malformed', () => {
    assert.throws(
      () => parseCpuTotal('cpu0 1 2 3 4\n', '/x/stat'),
      (e: unknown) => e instanceof ProcParseError && /\/x\/stat.*no aggregate "cpu " line/.test(e.message),
    );
    assert.throws(
      () => parseCpuTotal('cpu  1 2 x 4\n'),
      (e: unknown) => e instanceof ProcParseError && /malformed system counter "x"/.test(e.message),
    );
    assert.throws(
      () => parseCpuTotal('cpu  1 2\n'),
      (e: unknown) => e instanceof ProcParseError && /at least 4 counters/.test(e.message),
    );
  });
});

describe('cpuUsage', () => {
  it('computes busy shares over one real second', () => {
    // total: 95 user + 6 system + 98 idle + 1 iowait = 200 jiffies, busy 101.
    // cpu0: 1 + 4 + 95 idle = 100, busy 5. cpu1: 94 + 3 + 3 idle = 100, busy 97.
    const usage = cpuUsage(parseProcStat(fixture('stat.1')), parseProcStat(fixture('stat.2')));
    assert.deepEqual(usage, { busyPct: 50.5, perCpuBusyPct: [5, 97], intervalSec: 1 });
  });

  it('gives per-CPU shares only for CPUs present in both readings when one goes offline', () => {
    // cpu0: 50 + 10 + 140 idle = 200, busy 60. cpu1: 150 + 50 idle, busy 150. cpu3: 20 + 10 + 160 idle + 10 iowait, busy 30.
    // total (the kernel keeps the offline cpu2 in it, frozen): 220 + 20 + 350 + 10 = 600, busy 240.
    const usage = cpuUsage(parseProcStat(fixture('stat.hotplug.1')), parseProcStat(fixture('stat.hotplug.2')));
    assert.deepEqual(usage, { busyPct: 40, perCpuBusyPct: [30, 75, 15], intervalSec: 2 });
  });

  it('gives no share for a CPU that comes online between readings', () => {
    const before = parseProcStat('cpu  0 0 0 100\ncpu0 0 0 0 100\n');
    const after = parseProcStat('cpu  50 0 0 250\ncpu0 50 0 0 150\ncpu1 0 0 0 100\n');
    // 200 jiffies over the 2 CPUs of the second reading: 1 s.
    assert.deepEqual(cpuUsage(before, after), { busyPct: 25, perCpuBusyPct: [50], intervalSec: 1 });
  });

  it('counts counters that went backwards as 0', () => {
    const before = parseProcStat('cpu  100 0 0 100 50\ncpu0 100 0 0 100 50\n');
    // iowait fell by 20 (NO_HZ kernels do that): it must not shrink the interval or raise busy.
    const after = parseProcStat('cpu  130 0 0 170 30\ncpu0 130 0 0 170 30\n');
    assert.deepEqual(cpuUsage(before, after), { busyPct: 30, perCpuBusyPct: [30], intervalSec: 1 });
    // Everything backwards (a counter reset): a zero interval, not a negative one.
    const reset = parseProcStat('cpu  1 0 0 1 0\ncpu0 1 0 0 1 0\n');
    assert.deepEqual(cpuUsage(after, reset), { busyPct: 0, perCpuBusyPct: [0], intervalSec: 0 });
  });

  it('reports 0 busy over a zero-length interval', () => {
    const stat = parseProcStat(fixture('stat.1'));
    assert.deepEqual(cpuUsage(stat, stat), { busyPct: 0, perCpuBusyPct: [0, 0], intervalSec: 0 });
  });

  it('treats steal, irq and softirq as busy', () => {
    const before = parseProcStat('cpu  0 0 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0\n');
    const after = parseProcStat('cpu  0 0 0 50 0 10 20 20 999 999\ncpu0 0 0 0 50 0 10 20 20 999 999\n');
    assert.deepEqual(cpuUsage(before, after), { busyPct: 50, perCpuBusyPct: [50], intervalSec: 1 });
  });
});
