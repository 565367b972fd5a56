import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ProcParseError } from '../../../src/core/errors.ts';
import { parseMeminfo } from '../../../src/host/meminfo.ts';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/proc/${name}`, import.meta.url), 'utf8');

describe('parseMeminfo', () => {
  it('converts a real /proc/meminfo from kB to bytes', () => {
    // MemTotal 24684092 kB, MemAvailable 24256636 kB, no swap on this machine.
    assert.deepEqual(parseMeminfo(fixture('meminfo')), {
      totalBytes: 25_276_510_208,
      availableBytes: 24_838_795_264,
      swapTotalBytes: 0,
      swapFreeBytes: 0,
    });
  });

  it('estimates MemAvailable as MemFree + Buffers + Cached on old kernels', () => {
    // (512000 + 102400 + 1536000) kB; swap 2097148 kB total, 2000000 kB free.
    assert.deepEqual(parseMeminfo(fixture('meminfo.no-available')), {
      totalBytes: 4_143_644_672,
      availableBytes: 2_202_009_600,
      swapTotalBytes: 2_147_479_552,
      swapFreeBytes: 2_048_000_000,
    });
  });

  it('counts missing Buffers, Cached and swap lines as 0', () => {
    assert.deepEqual(parseMeminfo('MemTotal: 100 kB\nMemFree: 10 kB\n'), {
      totalBytes: 102_400,
      availableBytes: 10_240,
      swapTotalBytes: 0,
      swapFreeBytes: 0,
    });
  });

  it('throws ProcParseError naming the file when MemTotal is missing', () => {
    assert.throws(
      () => parseMeminfo(fixture('garbage'), '/host/proc/meminfo'),
      (err: unknown) => {
        assert.ok(err instanceof ProcParseError);
        assert.equal(err.file, '/host/proc/meminfo');
        assert.equal(err.message, '/host/proc/meminfo: no MemTotal line');
        return true;
      },
    );
    assert.throws(() => parseMeminfo('MemAvailable: 5 kB\n'), {
      name: 'ProcParseError',
      message: '/proc/meminfo: no MemTotal line',
    });
  });

  it('throws when neither MemAvailable nor MemFree is there', () => {
    assert.throws(() => parseMeminfo('MemTotal: 100 kB\n', 'f'), {
      name: 'ProcParseError',
      message: 'f: neither MemAvailable nor MemFree',
    });
  });

  it('throws on a malformed value of a line it needs', () => {
    assert.throws(() => parseMeminfo('MemTotal: lots kB\n', 'f'), {
      name: 'ProcParseError',
      message: 'f: malformed MemTotal value "lots kB"',
    });
    // Lines it does not need may be anything.
    assert.equal(parseMeminfo('MemTotal: 1 kB\nMemAvailable: 1 kB\nWeird: ???\n').totalBytes, 1024);
  });
});
