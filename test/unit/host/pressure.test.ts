import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ProcParseError } from '../../../src/core/errors.ts';
import { parsePressure } from '../../../src/host/pressure.ts';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/proc/${name}`, import.meta.url), 'utf8');

describe('parsePressure', () => {
  it('reads the some and full lines of real PSI files', () => {
    assert.deepEqual(parsePressure(fixture('pressure/cpu')), {
      some: { avg10: 3.41, avg60: 1.77, avg300: 1.73, total: 10_939_152 },
      full: { avg10: 0, avg60: 0, avg300: 0, total: 0 },
    });
    assert.deepEqual(parsePressure(fixture('pressure/io')), {
      some: { avg10: 1.28, avg60: 0.46, avg300: 0.48, total: 3_403_742 },
      full: { avg10: 1.13, avg60: 0.41, avg300: 0.45, total: 3_190_352 },
    });
    assert.deepEqual(parsePressure(fixture('pressure/memory')), {
      some: { avg10: 0, avg60: 0, avg300: 0, total: 0 },
      full: { avg10: 0, avg60: 0, avg300: 0, total: 0 },
    });
  });

  it('leaves full undefined for a cpu file without it (Linux before 5.13)', () => {
    const pressure = parsePressure(fixture('pressure/cpu.no-full'));
    assert.deepEqual(pressure.some, { avg10: 1.5, avg60: 0.75, avg300: 0.25, total: 123_456 });
    assert.equal(pressure.full, undefined);
  });

  it('ignores key=value pairs it does not know', () => {
    const pressure = parsePressure('some avg10=1.00 avg60=2.00 avg300=3.00 total=4 avg1200=5.00\n');
    assert.deepEqual(pressure.some, { avg10: 1, avg60: 2, avg300: 3, total: 4 });
  });

  it('throws ProcParseError naming the file without a some line', () => {
    assert.throws(
      () => parsePressure(fixture('garbage'), '/host/proc/pressure/io'),
      (err: unknown) => {
        assert.ok(err instanceof ProcParseError);
        assert.equal(err.file, '/host/proc/pressure/io');
        assert.equal(err.message, '/host/proc/pressure/io: no "some" line');
        return true;
      },
    );
    assert.throws(() => parsePressure('full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n'), ProcParseError);
  });

  it('throws on a line with a missing or malformed key', () => {
    assert.throws(() => parsePressure('some avg10=0.00 avg60=0.00 total=0\n', 'f'), {
      name: 'ProcParseError',
      message: /^f: missing or malformed avg300/,
    });
    assert.throws(
      () =>
        parsePressure(
          'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=x avg60=0.00 avg300=0.00 total=0\n',
          'f',
        ),
      { name: 'ProcParseError', message: /^f: missing or malformed avg10 in "full/ },
    );
  });
});
