/**
 * Ownership labels. A container is Plancton's only if it carries these labels: names mean nothing
 * (a foreign `plancton-worker-xyz` is never touched).
 */
export const LABEL_PREFIX = 'org.plancton';
export const LABELS = {
  managedBy: `${LABEL_PREFIX}.managed-by`,
  instance: `${LABEL_PREFIX}.instance`,
  pilotId: `${LABEL_PREFIX}.pilot-id`,
  configHash: `${LABEL_PREFIX}.config-hash`,
  version: `${LABEL_PREFIX}.version`,
  /** Marks Plancton's own container, so that it never counts itself as a pilot. */
  self: `${LABEL_PREFIX}.self`,
} as const;
export const MANAGED_BY = 'plancton';

/** Labels for a new pilot of `instance`. */
export function pilotLabels(instance: string, pilotId: string, configHash: string, version: string): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.instance]: instance,
    [LABELS.pilotId]: pilotId,
    [LABELS.configHash]: configHash,
    [LABELS.version]: version,
  };
}

/** Server-side label filters that select exactly the pilots of `instance`. */
export function ownedFilter(instance: string): string[] {
  return [`${LABELS.managedBy}=${MANAGED_BY}`, `${LABELS.instance}=${instance}`];
}

/** True when `labels` mark a pilot of `instance` (a second check after the server-side filter). */
export function isOwned(labels: Readonly<Record<string, string>> | undefined, instance: string): boolean {
  return labels?.[LABELS.managedBy] === MANAGED_BY && labels[LABELS.instance] === instance && labels[LABELS.self] === undefined;
}
