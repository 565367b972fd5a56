import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ProcParseError } from '../../../src/core/errors.ts';
import { HostSampler } from '../../../src/host/sampler.ts';

const FIXTURE_ROOT = fileURLToPath(new URL('../../fixtures/proc-root', import.meta.url));
const STAT_2 = fileURLToPath(new URL('../../fixtures/proc/stat.2', import.meta.url));

// The real meminfo and PSI files of the fixture tree, in bytes and parsed.
const MEMORY = { totalBytes: 25_276_510_208, availableBytes: 24_838_795_264, swapTotalBytes: 0, swapFreeBytes: 0 };
const PSI_CPU = {
  some: { avg10: 3.41, avg60: 1.77, avg300: 1.73, total: 10_939_152 },
  full: { avg10: 0, avg60: 0, avg300: 0, total: 0 },
};
const PSI_MEMORY = {
  some: { avg10: 0, avg60: 0, avg300: 0, total: 0 },
  full: { avg10: 0, avg60: 0, avg300: 0, total: 0 },
};
const PSI_IO = {
  some: { avg10: 1.28, avg60: 0.46, avg300: 0.48, total: 3_403_742 },
  full: { avg10: 1.13, avg60: 0.41, avg300: 0.45, total: 3_190_352 },
};

describe('HostSampler', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'plancton-proc-'));
    await cp(FIXTURE_ROOT, root, { recursive: true });
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('gives no CPU share on the first sample and the fixture one-second share on the second', async () => {
    const sampler = new HostSampler({ procRoot: root });
    const first = await sampler.sample(1000);
    assert.deepEqual(first, {
      at: 1000,
      ncpus: 2,
      cpu: undefined,
      memory: MEMORY,
      pressure: { cpu: PSI_CPU, memory: PSI_MEMORY, io: PSI_IO },
    });

    await cp(STAT_2, join(root, 'stat'));
    const second = await sampler.sample(2000);
    assert.equal(second.at, 2000);
    assert.equal(second.ncpus, 2);
    assert.deepEqual(second.cpu, { busyPct: 50.5, perCpuBusyPct: [5, 97], intervalSec: 1 });
    assert.deepEqual(second.memory, MEMORY);
  });

  it('leaves pressure undefined when the kernel has no PSI, without reporting it', async () => {
    await rm(join(root, 'pressure'), { recursive: true });
    const errors: unknown[] = [];
    const sample = await new HostSampler({ procRoot: root, onPressureError: (e) => errors.push(e) }).sample(0);
    assert.equal(sample.pressure, undefined);
    assert.deepEqual(errors, []);
  });

  it('leaves one resource undefined when its file is missing, unreadable or malformed, reporting the last two', async () => {
    await rm(join(root, 'pressure/memory'));
    await rm(join(root, 'pressure/io'));
    await mkdir(join(root, 'pressure/io')); // reading a directory fails with EISDIR
    await writeFile(join(root, 'pressure/cpu'), 'nonsense\n');
    const errors: unknown[] = [];
    let sample = await new HostSampler({ procRoot: root, onPressureError: (e) => errors.push(e) }).sample(0);
    assert.equal(sample.pressure, undefined);
    assert.equal(errors.length, 2);
    const parseError = errors.find((e) => e instanceof ProcParseError);
    assert.equal(parseError?.file, join(root, 'pressure/cpu'));
    assert.ok(errors.some((e) => (e as NodeJS.ErrnoException).code === 'EISDIR'));

    await cp(join(FIXTURE_ROOT, 'pressure/cpu'), join(root, 'pressure/cpu'));
    sample = await new HostSampler({ procRoot: root }).sample(0);
    assert.deepEqual(sample.pressure, { cpu: PSI_CPU, memory: undefined, io: undefined });
  });

  it('rejects with ProcParseError naming the file when stat or meminfo is malformed', async () => {
    await writeFile(join(root, 'stat'), 'intr 0\n');
    await assert.rejects(new HostSampler({ procRoot: root }).sample(0), {
      name: 'ProcParseError',
      file: join(root, 'stat'),
    });
    await cp(join(FIXTURE_ROOT, 'stat'), join(root, 'stat'));
    await writeFile(join(root, 'meminfo'), 'MemFree: 1 kB\n');
    await assert.rejects(new HostSampler({ procRoot: root }).sample(0), {
      name: 'ProcParseError',
      message: `${join(root, 'meminfo')}: no MemTotal line`,
    });
  });

  it('rejects with the fs error when stat is missing', async () => {
    await rm(join(root, 'stat'));
    await assert.rejects(new HostSampler({ procRoot: root }).sample(0), { code: 'ENOENT', path: join(root, 'stat') });
  });

  it('keeps its baseline through a failed sample', async () => {
    const sampler = new HostSampler({ procRoot: root });
    await sampler.sample(1000);
    await cp(STAT_2, join(root, 'stat'));
    await rm(join(root, 'meminfo'));
    await assert.rejects(sampler.sample(2000), { code: 'ENOENT' });
    await cp(join(FIXTURE_ROOT, 'meminfo'), join(root, 'meminfo'));
    const sample = await sampler.sample(3000);
    assert.deepEqual(sample.cpu, { busyPct: 50.5, perCpuBusyPct: [5, 97], intervalSec: 1 });
  });

  it('reads the real /proc by default', async () => {
    const sampler = new HostSampler();
    await sampler.sample(0);
    const sample = await sampler.sample(1);
    assert.ok(sample.ncpus >= 1);
    assert.ok(sample.memory.totalBytes > 0);
    assert.equal(sample.cpu?.perCpuBusyPct.length, sample.ncpus);
  });
});
