/** A status report and host sample as the loop produces them, for the reporters' unit tests. */
import { PassThrough } from 'node:stream';
import type { HostSample } from '../../src/core/decision.ts';
import { createLogger, type Logger } from '../../src/report/logger.ts';
import type { Removal } from '../../src/report/removals.ts';
import { cpuSplit, type StatusReport } from '../../src/report/status.ts';

export const T0 = Date.UTC(2024, 0, 1, 12, 0, 0);

/** A report as the recorder makes it: the host's CPU split over the pilots' rows is part of it. */
export function sampleReport(over: Partial<StatusReport> = {}): StatusReport {
  const r = sampleFields(over);
  return { ...r, host: r.host ? { ...r.host, cpu: r.host.cpu ?? cpuSplit(r) } : undefined };
}

function sampleFields(over: Partial<StatusReport>): StatusReport {
  return {
    pid: 4242,
    version: '1.0.0-test',
    instance: 'inst',
    hostname: 'node1',
    state: 'active',
    startedAt: T0,
    updatedAt: T0 + 90_000,
    iterations: 7,
    config: { source: '/etc/plancton/config.yaml', hash: 'abc123def456', mainSleep: 30, maxDocks: 6 },
    engine: { reachable: true },
    controls: { drain: false, drainStop: false, forceStop: false },
    host: { ncpus: 4, cpuBusyPct: 60, memAvailableBytes: 6e9, memTotalBytes: 8e9 },
    fit: {
      running: 2,
      fitting: 1,
      room: 4,
      toStart: 1,
      pilotSharePct: 50,
      overloaded: false,
      ownerBusyPct: 12,
      ownerDisturbed: true,
    },
    pilots: [
      {
        id: 'a'.repeat(64),
        name: 'plancton-worker-aaaaaa',
        state: 'running',
        startedAt: T0,
        cpuPct: 80,
        configHash: 'abc123def456',
      },
      {
        id: 'b'.repeat(64),
        name: 'plancton-worker-bbbbbb',
        state: 'running',
        startedAt: T0,
        cpuPct: 40,
        configHash: 'abc123def456',
      },
      { id: 'c'.repeat(64), name: 'plancton-worker-cccccc', state: 'created', configHash: 'abc123def456' },
    ],
    removals: [],
    removalsTotal: 3,
    ...over,
  };
}

export function sampleHost(over: Partial<HostSample> = {}): HostSample {
  return {
    at: T0 + 90_000,
    ncpus: 4,
    cpu: { busyPct: 60, perCpuBusyPct: [60, 60, 60, 60], intervalSec: 30 },
    memory: { totalBytes: 8e9, availableBytes: 6e9, swapTotalBytes: 2e9, swapFreeBytes: 1.5e9 },
    pressure: {
      cpu: { some: { avg10: 1.5, avg60: 1, avg300: 0.5, total: 5_000_000 } },
      memory: {
        some: { avg10: 0.1, avg60: 0.2, avg300: 0.3, total: 1000 },
        full: { avg10: 0, avg60: 0, avg300: 0, total: 10 },
      },
    },
    ...over,
  };
}

export function sampleRemoval(over: Partial<Removal> = {}): Removal {
  return {
    id: 'd'.repeat(64),
    name: 'plancton-worker-dddddd',
    reason: 'exited',
    exitCode: 0,
    oomKilled: false,
    uptimeSec: 600,
    startedAt: T0,
    removedAt: T0 + 600_000,
    started: true,
    killed: false,
    ...over,
  };
}

/** A logger writing JSON lines into a string, to check what the reporters log. */
export function memoryLogger(level = 'debug'): { logger: Logger; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  return { logger: createLogger({ level, stream, json: true }), text: () => text };
}
