import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ProcParseError } from '../../../src/core/errors.ts';
import { parseMemory, parseMeminfo } from '../../../src/host/meminfo.ts';
import { auxvPageSize } from '../../../src/host/page-size.ts';
import { parseZoneinfo } from '../../../src/host/zoneinfo.ts';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/proc/${name}`, import.meta.url), 'utf8');

describe('parseZoneinfo', () => {
  it("sums the per-CPU lists' free pages of every zone of a real /proc/zoneinfo (Linux 6.18, 2 CPUs, 5 zones)", () => {
    // the Normal zone's pagesets hold 7365 (cpu 0) and 46088 (cpu 1) pages; DMA and DMA32 none
    assert.deepEqual(parseZoneinfo(fixture('zoneinfo')), { zones: 5, perCpuPages: 7365 + 46088 });
  });

  it('names the file and the value when a count is malformed, and refuses a file with no zone', () => {
    const bad = 'Node 0, zone   Normal\n  pages free     5\n  pagesets\n    cpu: 0\n              count:    x1\n';
    assert.throws(
      () => parseZoneinfo(bad, '/host/proc/zoneinfo'),
      (e: unknown) => {
        assert.ok(e instanceof ProcParseError);
        assert.match(e.message, /\/host\/proc\/zoneinfo.*malformed count "x1"/);
        return true;
      },
    );
    assert.throws(() => parseZoneinfo('garbage\n', 'z'), /z.*no zone/);
  });
});

describe('parseMemory', () => {
  const meminfo = 'MemTotal: 1000 kB\nMemFree: 300 kB\nMemAvailable: 500 kB\n';
  const zoneinfo =
    'Node 0, zone   Normal\n  pages free     75\n  pagesets\n    cpu: 0\n              count:    10\n    cpu: 1\n              count:    15\n';

  it("adds the per-CPU lists to MemAvailable, in the kernel's page size", () => {
    const m = parseMemory(meminfo, zoneinfo, 4096);
    assert.equal(m.perCpuFreeBytes, 25 * 4096);
    assert.equal(m.availableBytes, 500 * 1024 + 25 * 4096);
    assert.equal(parseMemory(meminfo, zoneinfo, 65536).perCpuFreeBytes, 25 * 65536);
  });

  it('is MemAvailable alone without zoneinfo or a page size', () => {
    assert.deepEqual(parseMemory(meminfo, undefined, 4096), parseMeminfo(meminfo));
    assert.deepEqual(parseMemory(meminfo, zoneinfo, undefined), parseMeminfo(meminfo));
    assert.equal(parseMemory(meminfo, undefined, 4096).perCpuFreeBytes, undefined);
  });
});

describe('auxvPageSize', () => {
  const vector = (pairs: Array<[number, number]>, wordBytes: 4 | 8, littleEndian: boolean): Uint8Array => {
    const buf = new DataView(new ArrayBuffer(pairs.length * 2 * wordBytes));
    pairs.forEach(([type, value], i) => {
      const at = i * 2 * wordBytes;
      if (wordBytes === 8) {
        buf.setBigUint64(at, BigInt(type), littleEndian);
        buf.setBigUint64(at + 8, BigInt(value), littleEndian);
      } else {
        buf.setUint32(at, type, littleEndian);
        buf.setUint32(at + 4, value, littleEndian);
      }
    });
    return new Uint8Array(buf.buffer);
  };

  it('finds AT_PAGESZ (6) among the entries, in either word size and byte order', () => {
    const pairs: Array<[number, number]> = [
      [33, 123],
      [16, 77],
      [6, 16384],
      [0, 0],
    ];
    assert.equal(auxvPageSize(vector(pairs, 8, true), 8, true), 16384);
    assert.equal(auxvPageSize(vector(pairs, 8, false), 8, false), 16384);
    assert.equal(auxvPageSize(vector(pairs, 4, true), 4, true), 16384);
  });

  it('is undefined when the vector ends (AT_NULL) first, or is cut short', () => {
    assert.equal(
      auxvPageSize(
        vector(
          [
            [33, 1],
            [0, 0],
            [6, 4096],
          ],
          8,
          true,
        ),
        8,
        true,
      ),
      undefined,
    );
    assert.equal(auxvPageSize(vector([[6, 4096]], 8, true).subarray(0, 12), 8, true), undefined);
  });

  it("reads this machine's page size as getconf does", async () => {
    const { execa } = await import('execa');
    const { kernelPageSize } = await import('../../../src/host/page-size.ts');
    assert.equal(kernelPageSize(), Number((await execa('getconf', ['PAGESIZE'])).stdout));
  });
});
