/**
 * The `pools` key: several pools of pilots sharing the host, each with its own image, command,
 * size, max_docks, environment, binds, stop settings and backoff, and a `share` of the idle CPU.
 * A key a pool does not set is the top level's. A configuration without `pools` is one pool,
 * `default`, made of the top-level keys: every configuration written before pools means what it meant.
 */
import { createHash } from 'node:crypto';
import type { ConfigProblem } from '../core/errors.ts';
import { DEFAULT_POOL } from '../core/pools.ts';
import type { HostFacts } from '../core/pilot-shape.ts';
import { checkBounds } from './schema/check-bounds.ts';
import { compileExpression, type CompiledExpression } from './expression/expression.ts';
import { checkMaxDocks, MAX_DOCKS_NAMES } from './expression/max-docks.ts';
import { pilotShape, stopCommandOf, type PilotShape } from './pilot-shape.ts';
import { KEYS, newConfig, POOL_KEYS, type Settings } from './schema/keys.ts';

/** A pool's name: its pilots' label, a metric label and an InfluxDB tag. */
export const POOL_NAME = /^[a-z0-9](?:[a-z0-9_.-]{0,30}[a-z0-9])?$/;

/** The most a share may weigh (shares are relative: 70 and 30, or 0.7 and 0.3). */
export const SHARE_MAX = 1_000_000;

/** One pool, validated. */
export interface LoadedPool {
  readonly name: string;
  readonly share: number;
  /** The settings as this pool sees them: the top level's, the pool's own keys over them. */
  readonly settings: Readonly<Settings>;
  readonly pilot: PilotShape;
  readonly maxDocks: CompiledExpression;
  /** Short hash of the pool's pilot shape, stamped on its pilots. */
  readonly hash: string;
  /** The keys the pool sets itself. */
  readonly own: ReadonlyArray<keyof Settings>;
  /** Its `stop_command`, normalised at load (see stopCommandOf). */
  readonly stopCommand: readonly string[];
}

/** Short hash of a pilot shape, stamped on every pilot as a label. */
export const shapeHash = (pilot: PilotShape): string =>
  createHash('sha256').update(JSON.stringify(pilot)).digest('hex').slice(0, 12);

/** The hash of a configuration's pilots: its one pool's, or over every pool's (logs, status, `config show`). */
export const poolsHash = (pools: readonly LoadedPool[]): string =>
  pools.length === 1 && pools[0]
    ? pools[0].hash
    : createHash('sha256')
        .update(pools.map((p) => `${p.name}:${p.hash}`).join(','))
        .digest('hex')
        .slice(0, 12);

/** The first pool: the one pilots without a pool label belong to (a configuration has at least one). */
export function firstPool(pools: readonly LoadedPool[]): LoadedPool {
  const [first] = pools;
  if (!first) throw new Error('a configuration has at least one pool');
  return first;
}

/** The implicit pool of a configuration without `pools`: the top-level keys, named `default`. */
export function defaultPool(settings: Readonly<Settings>, pilot: PilotShape, maxDocks: CompiledExpression): LoadedPool {
  const stopCommand = stopCommandOf(settings.stop_command);
  return { name: DEFAULT_POOL, share: 1, settings, pilot, maxDocks, hash: shapeHash(pilot), own: [], stopCommand };
}

/** What the loader hands over for checking pools. */
export interface PoolContext {
  readonly settings: Readonly<Settings>;
  readonly problems: ConfigProblem[];
  readonly warnings: string[];
  /** The host max_docks is checked on, when known. */
  readonly facts?: HostFacts | undefined;
}

/**
 * Validates every pool of `settings.pools` (each bad key named as `pools[i].key`) and returns the
 * pools, or undefined when one is bad. Names must be unique; keys outside POOL_KEYS are refused,
 * so that a misspelt key never silently falls back to the top level's value.
 */
export function loadPools(ctx: PoolContext): LoadedPool[] | undefined {
  const raw = ctx.settings.pools;
  const before = ctx.problems.length;
  const names = raw.map((entry) =>
    entry !== null && typeof entry === 'object' ? (entry as { name?: unknown }).name : undefined,
  );
  names.forEach((name, i) => {
    if (typeof name === 'string' && names.indexOf(name) < i)
      ctx.problems.push({ key: `pools[${i}].name`, message: `"${name}" names two pools` });
  });
  const pools = raw.flatMap((entry, i) => loadPool(entry, `pools[${i}]`, ctx) ?? []);
  return ctx.problems.length > before ? undefined : pools;
}

/** The name and share of one entry, and its own keys; problems for anything else. */
function ownKeys(entry: Record<string, unknown>, at: string, problems: ConfigProblem[]): Record<string, unknown> {
  const allowed = new Set<string>(POOL_KEYS);
  const known = new Set<string>(KEYS);
  const own: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry)) {
    if (k === 'name' || k === 'share') continue;
    if (allowed.has(k)) own[k] = v;
    else if (known.has(k))
      problems.push({ key: `${at}.${k}`, message: "is the host's, not a pool's: set it at the top level" });
    else
      problems.push({
        key: `${at}.${k}`,
        message: `is not a pool key (a pool sets name, share, ${POOL_KEYS.join(', ')})`,
      });
  }
  return own;
}

function nameAndShare(
  entry: Record<string, unknown>,
  at: string,
  problems: ConfigProblem[],
): { name: string; share: number } | undefined {
  const { name, share = 1 } = entry;
  let ok = true;
  if (typeof name !== 'string' || !POOL_NAME.test(name)) {
    problems.push({
      key: `${at}.name`,
      message: 'must be 1-32 lower-case letters, digits, "_", "." or "-", starting and ending with a letter or digit',
    });
    ok = false;
  }
  if (typeof share !== 'number' || !Number.isFinite(share) || share <= 0 || share > SHARE_MAX) {
    problems.push({
      key: `${at}.share`,
      message: `must be a number over 0, at most ${SHARE_MAX} (a weight: 70 and 30, or 0.7 and 0.3)`,
    });
    ok = false;
  }
  return ok ? { name: name as string, share: share as number } : undefined;
}

function loadPool(entry: unknown, at: string, ctx: PoolContext): LoadedPool | undefined {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    ctx.problems.push({ key: at, message: 'must be a mapping with a name (and share, docker_image, ...)' });
    return undefined;
  }
  const problems: ConfigProblem[] = [];
  const id = nameAndShare(entry as Record<string, unknown>, at, problems);
  const own = ownKeys(entry as Record<string, unknown>, at, problems);
  const settings = poolSettings(ctx.settings, own, at, problems);
  // a bad name or share, or a key that is not a pool's, is named; the pool itself is not made
  const shape = settings && problems.length === 0 ? pilotShapeOf(settings, at, problems) : undefined;
  const maxDocks = settings && problems.length === 0 ? maxDocksOf(settings, at, ctx, problems) : undefined;
  ctx.problems.push(...problems);
  if (!id || !settings || !shape || !maxDocks || problems.length > 0) return undefined;
  const stopCommand = stopCommandOf(settings.stop_command);
  const keys = Object.keys(own) as Array<keyof Settings>;
  return { ...id, settings, pilot: shape, maxDocks, hash: shapeHash(shape), own: keys, stopCommand };
}

/**
 * The top level's settings with the pool's own over them, through convict's formats and the
 * bounds. Only the pool's own keys are named: the top level's are checked (and named) as such.
 */
function poolSettings(
  top: Readonly<Settings>,
  own: Record<string, unknown>,
  at: string,
  problems: ConfigProblem[],
): Settings | undefined {
  const conf = newConfig({}, []);
  const mine = (key: string): boolean => Object.hasOwn(own, key);
  try {
    conf.load({ ...top, ...own });
    conf.validate({ allowed: 'warn', output: () => undefined });
  } catch (err) {
    for (const line of (err instanceof Error ? err.message : String(err)).split('\n').filter(Boolean)) {
      const m = /^([a-z_]+): (.*)$/s.exec(line);
      if (m?.[1] && mine(m[1])) problems.push({ key: `${at}.${m[1]}`, message: m[2] ?? line });
    }
    return undefined;
  }
  const settings = conf.getProperties();
  const bounds: ConfigProblem[] = [];
  checkBounds(settings, new Set(), bounds);
  const named = (key: string): boolean => mine(key) || (key === 'max_dock_swap' && mine('max_dock_mem'));
  problems.push(...bounds.filter((p) => named(p.key)).map((p) => ({ key: `${at}.${p.key}`, message: p.message })));
  return settings;
}

function pilotShapeOf(settings: Settings, at: string, problems: ConfigProblem[]): PilotShape | undefined {
  const found: ConfigProblem[] = [];
  const shape = pilotShape(settings, found);
  problems.push(...found.map((p) => ({ key: `${at}.${p.key}`, message: p.message })));
  return found.length ? undefined : shape;
}

function maxDocksOf(
  settings: Settings,
  at: string,
  ctx: PoolContext,
  problems: ConfigProblem[],
): CompiledExpression | undefined {
  let expr: CompiledExpression;
  try {
    expr = compileExpression(String(settings.max_docks), MAX_DOCKS_NAMES);
  } catch (err) {
    problems.push({ key: `${at}.max_docks`, message: `${(err as Error).message} in "${String(settings.max_docks)}"` });
    return undefined;
  }
  if (!ctx.facts) return expr;
  const found: ConfigProblem[] = [];
  const warnings: string[] = [];
  checkMaxDocks(settings, expr, ctx.facts, found, warnings);
  problems.push(...found.map((p) => ({ key: `${at}.${p.key}`, message: p.message })));
  ctx.warnings.push(...warnings.map((w) => `${at}: ${w}`));
  return found.length ? undefined : expr;
}
