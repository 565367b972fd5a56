import type { Backoff, DecideInput, ImageStatus, PolicyState, StartBlock } from '../decision.ts';
import { calmLine, type CpuView } from './cpu.ts';

/**
 * CPUs the owner leaves for new pilots. Total policy (0.6): idle * 0.95 * ncpus, idle counting the
 * pilots' use as busy (so floor(idle * 0.95 * ncpus / (cpus * 100)) pilots fit). Owner policy: the
 * CPUs the owner leaves free up to the calm line (100 + margin - hysteresis, the line under which
 * an overload ends and a paused pilot resumes), less those the pilots already hold (`heldCpus`),
 * so a host full of busy pilots still replaces one that ends, and a start never tips the host into
 * overload. Undefined without a reading.
 */
export function spareCpus(input: DecideInput, cpu: CpuView, heldCpus: number): number | undefined {
  const { host, policy } = input;
  if (host.cpu === undefined) return undefined;
  const ncpus = Math.max(1, host.ncpus);
  if (policy.cpuPolicy === 'total') {
    const idle = Math.max(0, 100 - host.cpu.busyPct);
    return (idle * policy.fillFactor * ncpus) / 100;
  }
  // pilots at idle priority may fill every slot the owner leaves: 0.6's 0.95 would leave a whole CPU idle on small hosts
  const free = Math.max(0, 100 + calmLine(cpu, policy) - (cpu.ownerBusyPct ?? host.cpu.busyPct));
  return (free * ncpus) / 100 - heldCpus;
}

/** What one pool brings to the question: its image, its backoff, its room and how many of its pilots fit. */
export interface PoolStart {
  readonly image: ImageStatus;
  readonly backoff: Backoff | undefined;
  readonly room: number;
  readonly fitting: number;
  /** Pilots paused on the host (any pool's). */
  readonly paused: number;
}

/** The first reason, in this order, why nothing may start now in one pool. */
export function startBlock(input: DecideInput, state: PolicyState, pool: PoolStart): StartBlock | undefined {
  const { controls, host, policy, now } = input;
  const { image, backoff, room, fitting, paused } = pool;
  if (controls.forceStop) return 'stopping';
  if (controls.drain || controls.drainStop) return 'draining';
  if (controls.outsideSchedule) return 'outside-schedule';
  if (host.cpu === undefined) return 'no-cpu-sample';
  if (state.memoryLow) return 'memory-pressure';
  if (!image.present) return 'image-missing';
  if (state.lastKillAt !== undefined && now - state.lastKillAt < policy.graceSpawnMs) return 'grace-spawn';
  if (backoff && now < backoff.until) return 'backoff';
  if (paused > 0) return 'paused-pilots';
  if (room <= 0) return 'max-docks';
  if (fitting <= 0) return 'no-idle-cpu';
  return undefined;
}
