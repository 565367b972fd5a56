import type { DecideInput, PolicyState, StartBlock } from '../types.ts';
import { calmLine, type CpuView } from './cpu.ts';

/** Floating point slack so that e.g. 0.95 * 2 / 0.1 counts as 19, not 18.999… */
const EPSILON = 1e-9;

/**
 * How many more pilots the CPU allows. Total policy (0.6): floor(idle * 0.95 * ncpus / (cpus * 100)),
 * idle counting the pilots' use as busy. Owner policy: the CPU slots the owner leaves free up to
 * the calm line (100 + margin - hysteresis, the line under which an overload ends and a paused
 * pilot resumes), less the pilots already holding one, so a host full of busy pilots still
 * replaces one that ends, and a start never tips the host into overload.
 */
export function fittingPilots(input: DecideInput, cpu: CpuView, remaining: number): number {
  const { host, policy } = input;
  if (host.cpu === undefined) return 0;
  const ncpus = Math.max(1, host.ncpus);
  const perPilot = policy.cpusPerDock * 100;
  if (policy.cpuPolicy === 'total') {
    const idle = Math.max(0, 100 - host.cpu.busyPct);
    return Math.max(0, Math.floor((idle * policy.fillFactor * ncpus) / perPilot + EPSILON));
  }
  // pilots at idle priority may fill every slot the owner leaves: 0.6's 0.95 would leave a whole CPU idle on small hosts
  const free = Math.max(0, 100 + calmLine(cpu, policy) - (cpu.ownerBusyPct ?? host.cpu.busyPct));
  return Math.max(0, Math.floor((free * ncpus) / perPilot + EPSILON) - remaining);
}

/** The first reason, in this order, why nothing may start now. */
export function startBlock(
  input: DecideInput,
  state: PolicyState,
  room: number,
  fitting: number,
  paused: number,
): StartBlock | undefined {
  const { controls, host, image, policy, now } = input;
  if (controls.forceStop) return 'stopping';
  if (controls.drain || controls.drainStop) return 'draining';
  if (controls.outsideSchedule) return 'outside-schedule';
  if (host.cpu === undefined) return 'no-cpu-sample';
  if (state.memoryLow) return 'memory-pressure';
  if (!image.present) return 'image-missing';
  if (state.lastKillAt !== undefined && now - state.lastKillAt < policy.graceSpawnMs) return 'grace-spawn';
  if (state.backoff && now < state.backoff.until) return 'backoff';
  if (paused > 0) return 'paused-pilots';
  if (room <= 0) return 'max-docks';
  if (fitting <= 0) return 'no-idle-cpu';
  return undefined;
}
