import type { PilotShape } from '../core/pilot-shape.ts';
import type { Vacate } from '../core/decision.ts';
import { pilotLabels } from './labels.ts';
import type { PilotSpec } from './port.ts';

/** Docker's CFS period; 0.6 set CpuQuota = cpus_per_dock * 100000 over this. */
export const CPU_PERIOD = 100_000;

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** 0.6's six random characters shared by the name and the hostname. */
export function newPilotId(random: () => number): string {
  let id = '';
  for (let i = 0; i < 6; i++) id += ID_ALPHABET[Math.floor(random() * ID_ALPHABET.length) % ID_ALPHABET.length];
  return id;
}

/** `plancton-<host>-<id>`, kept a valid DNS label: short host name, lower case, at most 63 characters. */
export function pilotHostname(host: string, pilotId: string): string {
  const short =
    (host.split('.')[0] ?? '')
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'host';
  const room = 63 - 'plancton--'.length - pilotId.length;
  return `plancton-${short.slice(0, room).replace(/-+$/, '')}-${pilotId}`;
}

export interface SpecContext {
  readonly instance: string;
  readonly hostname: string;
  readonly version: string;
  readonly configHash: string;
  readonly pilotId: string;
  /** Whether AppArmor is enabled on the host: AppArmor security options are dropped otherwise (as 0.6 did). */
  readonly apparmor: boolean;
  /** Epoch milliseconds at which the pilot's TTL ends. */
  readonly deadline: number;
  readonly stopTimeoutSec: number;
  /** The idle-priority parent cgroup, when it could be set up. */
  readonly cgroupParent?: string | undefined;
  /** The pool the pilot is for (its label), and how it asks to be vacated. */
  readonly pool?: { readonly name: string; readonly vacate?: Vacate | undefined } | undefined;
}

/** The create request of one pilot, exactly as 0.6 shaped it, plus ownership labels and the pilot contract's environment. */
export function buildPilotSpec(shape: PilotShape, ctx: SpecContext): PilotSpec {
  const contract = [
    `PLANCTON_PILOT_ID=${ctx.pilotId}`,
    `PLANCTON_HOST=${ctx.hostname}`,
    `PLANCTON_INSTANCE=${ctx.instance}`,
    `PLANCTON_CPUS=${shape.cpusPerDock}`,
    `PLANCTON_MEMORY_BYTES=${shape.memoryBytes}`,
    `PLANCTON_DEADLINE=${Math.floor(ctx.deadline / 1000)}`,
    `PLANCTON_STOP_TIMEOUT=${ctx.stopTimeoutSec}`,
    ...(ctx.pool ? [`PLANCTON_POOL=${ctx.pool.name}`] : []),
  ];
  return {
    name: `plancton-worker-${ctx.pilotId}`,
    hostname: pilotHostname(ctx.hostname, ctx.pilotId),
    image: shape.image,
    cmd: shape.cmd,
    user: shape.user,
    labels: pilotLabels(ctx.instance, ctx.pilotId, ctx.configHash, ctx.version, ctx.pool),
    // the site's entries first, so that the contract's names always hold
    env: [...shape.env.filter((e) => !e.startsWith('PLANCTON_')), ...contract],
    cpuPeriod: CPU_PERIOD,
    cpuQuota: Math.round(shape.cpusPerDock * CPU_PERIOD),
    memoryBytes: shape.memoryBytes,
    memorySwapBytes: shape.memoryBytes > 0 ? shape.memoryBytes + shape.swapBytes : 0,
    binds: shape.binds,
    devices: shape.devices,
    capAdd: shape.capAdd,
    capDrop: shape.capDrop,
    securityOpt: ctx.apparmor ? shape.securityOpt : shape.securityOpt.filter((o) => !/^apparmor[=:]/i.test(o)),
    privileged: shape.privileged,
    networkMode: shape.network,
    pidsLimit: shape.pidsLimit,
    cgroupParent: ctx.cgroupParent,
  };
}
