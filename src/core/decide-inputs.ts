/**
 * What the core makes of the shell's observations before it decides: the image each pool's
 * decision sees (what the engine has now, over the pull book in the state), and the share of the
 * CPU reading the daemon's own engine work took. Pure: the shell hands in what it observed.
 */
import { poolStateOf, withPoolState } from './pools.ts';
import type { ImageBook, ImageStatus, PolicyState, PoolPolicy } from './decision.ts';

/**
 * The image as decide() sees it: what the engine says now and the bookkeeping in `state`. An image
 * found present before any pull counts as pulled now: its expiry runs from here, no pull yet.
 */
export function imageView(
  known: ImageBook | undefined,
  name: string,
  present: boolean,
  now: number,
): { image: ImageStatus; book: ImageBook } {
  const book =
    present && known?.lastPulledName === undefined ? { lastPulledName: name, lastPullOkAt: now } : (known ?? {});
  return { image: { name, present, ...book }, book };
}

/** The pools and each one's image, by pool name: what settle() and poolImages() book pulls by. */
export interface PoolImages {
  readonly pools: readonly PoolPolicy[];
  readonly images: Readonly<Record<string, string>>;
}

/**
 * Each pool's image as decide() sees it (imageView, over the pool's own book), by pool name, and
 * the state with the books: `present` says which images the engine has now.
 */
export function poolImages(
  state: PolicyState,
  pools: PoolImages,
  present: ReadonlySet<string>,
  now: number,
): { images: Record<string, ImageStatus>; state: PolicyState } {
  let next = state;
  const images: Record<string, ImageStatus> = {};
  for (const pool of pools.pools) {
    const name = pools.images[pool.name] ?? '';
    const view = imageView(poolStateOf(next, pool.name).image, name, present.has(name), now);
    images[pool.name] = view.image;
    const keep = Object.keys(view.book).length > 0;
    next = withPoolState(next, pools.pools, pool.name, { image: keep ? view.book : undefined });
  }
  return { images, state: next };
}

/** The share (0-1) of the CPU reading's interval that the last pass's engine work took; 0 without a reading. */
export function ownWorkShare(ownWorkMs: number, intervalSec: number | undefined): number {
  const intervalMs = (intervalSec ?? 0) * 1000;
  return ownWorkMs <= 0 || intervalMs <= 0 ? 0 : Math.min(1, ownWorkMs / intervalMs);
}
