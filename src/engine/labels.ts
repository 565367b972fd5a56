/**
 * Ownership labels. A container is Plancton's only if it carries these labels: names mean nothing
 * (a foreign `plancton-worker-xyz` is never touched).
 */
import type { Pilot, Vacate } from '../core/decision.ts';

export const LABEL_PREFIX = 'org.plancton';
export const LABELS = {
  managedBy: `${LABEL_PREFIX}.managed-by`,
  instance: `${LABEL_PREFIX}.instance`,
  pilotId: `${LABEL_PREFIX}.pilot-id`,
  configHash: `${LABEL_PREFIX}.config-hash`,
  version: `${LABEL_PREFIX}.version`,
  /** The pool the pilot was started for; a pilot without it (made before pools) belongs to the first pool. */
  pool: `${LABEL_PREFIX}.pool`,
  /** How the pilot asks to be vacated (JSON: graceSec, signal, command), for when its pool is gone from the configuration. */
  stop: `${LABEL_PREFIX}.stop`,
  /**
   * Set on every pilot when Plancton creates it: labels given at creation override the image's,
   * so no image can take it away (an image may carry `self`, which containers inherit).
   */
  role: `${LABEL_PREFIX}.role`,
  /** Marks Plancton's own container (its image sets it), so that it never counts itself as a pilot. */
  self: `${LABEL_PREFIX}.self`,
} as const;
export const MANAGED_BY = 'plancton';
export const ROLE_PILOT = 'pilot';

/**
 * Docker Compose's label namespace. Compose (v1 and v2) finds a project's containers by
 * `com.docker.compose.project=<name>` (with `.service`, `.oneoff`, `.container-number`,
 * `.config-hash`), and a container inherits every label of its image: a pilot of an image that
 * Compose built (`build:` under a service) or that was committed from a Compose container would
 * pass for that project's container (`docker-compose down` stops and removes it).
 */
export const COMPOSE_LABEL_PREFIX = 'com.docker.compose.';

/**
 * The labels that take the image's Compose labels away from a new pilot: every one the image
 * carries, emptied. Docker cannot delete an inherited label, only override it; an empty value is
 * no project, service or one-off flag any Compose asks for. A label the image lacks is not added,
 * so that a filter on a label's mere presence (v2's `config-hash`) stays unmatched.
 */
export function composeLabelsCleared(
  imageLabels: Readonly<Record<string, string>> | null | undefined,
): Record<string, string> {
  return Object.fromEntries(
    Object.keys(imageLabels ?? {})
      .filter((key) => key.startsWith(COMPOSE_LABEL_PREFIX))
      .map((key) => [key, '']),
  );
}

/** Labels for a new pilot of `instance`; with `pool`, the pool it is for and how it asks to be vacated. */
export function pilotLabels(
  instance: string,
  pilotId: string,
  configHash: string,
  version: string,
  pool?: { readonly name: string; readonly vacate?: Vacate | undefined },
): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.instance]: instance,
    [LABELS.pilotId]: pilotId,
    [LABELS.configHash]: configHash,
    [LABELS.version]: version,
    [LABELS.role]: ROLE_PILOT,
    ...(pool ? { [LABELS.pool]: pool.name } : {}),
    ...(pool?.vacate ? { [LABELS.stop]: JSON.stringify(pool.vacate) } : {}),
  };
}

/** The pool and stop settings a pilot's labels carry; a stop label that is not what Plancton writes is ignored. */
export function poolOfLabels(labels: Readonly<Record<string, string>> | undefined): Pick<Pilot, 'pool' | 'stop'> {
  const pool = labels?.[LABELS.pool];
  let stop: Vacate | undefined;
  try {
    const v = JSON.parse(labels?.[LABELS.stop] ?? 'null') as Partial<Vacate> | null;
    if (
      v &&
      typeof v.graceSec === 'number' &&
      Number.isInteger(v.graceSec) &&
      v.graceSec >= 0 &&
      typeof v.signal === 'string' &&
      /^SIG[A-Z0-9]+$/.test(v.signal) &&
      Array.isArray(v.command) &&
      v.command.every((c) => typeof c === 'string')
    )
      stop = { graceSec: v.graceSec, signal: v.signal, command: v.command };
  } catch {
    stop = undefined;
  }
  return { ...(pool ? { pool } : {}), ...(stop ? { stop } : {}) };
}

/** Server-side label filters that select exactly the pilots of `instance`. */
export function ownedFilter(instance: string): string[] {
  return [`${LABELS.managedBy}=${MANAGED_BY}`, `${LABELS.instance}=${instance}`];
}

/**
 * True when `labels` mark a pilot of `instance` (a second check after the server-side filter):
 * recognised by the role label Plancton sets when it creates a pilot, never by the absence of a
 * label an image could carry. Pilots created before the role label existed (no role, no self) are
 * still adopted.
 */
export function isOwned(labels: Readonly<Record<string, string>> | undefined, instance: string): boolean {
  if (labels?.[LABELS.managedBy] !== MANAGED_BY || labels[LABELS.instance] !== instance) return false;
  const role = labels[LABELS.role];
  return role === ROLE_PILOT || (role === undefined && labels[LABELS.self] === undefined);
}
