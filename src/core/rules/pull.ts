import type { ImageStatus, Policy } from '../decision.ts';

/** Pull when the image is missing, was renamed in the config, or has expired; failed pulls wait `pullRetryMs`. */
export function pullDue(
  image: ImageStatus,
  policy: Pick<Policy, 'imageExpirationMs' | 'pullRetryMs'>,
  now: number,
): boolean {
  if (image.lastPullAttemptAt !== undefined && now - image.lastPullAttemptAt < policy.pullRetryMs) return false;
  if (!image.present || image.lastPulledName !== image.name || image.lastPullOkAt === undefined) return true;
  return now - image.lastPullOkAt >= policy.imageExpirationMs;
}
