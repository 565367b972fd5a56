import { EngineError } from '../core/errors.ts';

/** Turning docker-modem's errors into EngineError: branch on `statusCode`, never on message text. */

const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'EACCES',
  'ETIMEDOUT',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** The HTTP status of a docker-modem error, when the engine answered. */
export function statusOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The engine's own message when it sent one, else the error's. */
export function detailOf(err: unknown): string {
  const json = (err as { json?: unknown } | null)?.json;
  const message = (json as { message?: unknown } | null)?.message;
  if (typeof message === 'string') return message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Connection-level failures: the engine could not be reached at all. */
export function isUnreachable(err: unknown): boolean {
  if (statusOf(err) !== undefined) return false;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
  return err instanceof Error && /socket hang up|timeout|timed out/i.test(err.message);
}

/** An EngineError naming the operation, with the status code and reachability of `err`. */
export function engineError(op: string, err: unknown, suffix = ''): EngineError {
  if (err instanceof EngineError && suffix === '') return err;
  const statusCode = statusOf(err);
  const unreachable = isUnreachable(err);
  const detail = unreachable ? `engine unreachable (${detailOf(err)})` : detailOf(err);
  return new EngineError(`${op} failed: ${detail}${suffix}`, { statusCode, unreachable, cause: err });
}

/** Container ids as `docker ps` shows them. */
export function short(id: string): string {
  return /^[0-9a-f]{64}$/.test(id) ? id.slice(0, 12) : id;
}

/** True for engine failures worth another try: the engine unreachable or timing out, or a server-side error. */
export function isTransientEngineError(err: unknown): boolean {
  return err instanceof EngineError && (err.unreachable || (err.statusCode ?? 0) >= 500);
}
