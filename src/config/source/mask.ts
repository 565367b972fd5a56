/**
 * Masking of credentials in URLs and in texts that carry URLs (errors, logs, status, config show).
 * The one place that knows what a secret in a URL looks like: the user-info part (everything up
 * to the last `@` of the authority: a password may itself hold `@`, and an unencoded `/` too) and
 * the values of query parameters whose names say they are secrets (`?token=...`).
 */

const MASK = '***';

/** Query parameter names whose values are credentials. */
const SECRET_PARAM = /(token|key|secret|pass|pwd|auth|sig|signature|credential|session|jwt|code)/i;

/** One URL with its credentials replaced by `***`; text that is no URL comes back unchanged. */
export function maskUrl(url: string): string {
  const scheme = /^(?:[a-z][a-z0-9+._-]*:)*\/\//i.exec(url);
  if (!scheme) return url;
  const start = scheme[0].length;
  // the user-info ends at the last "@" before the query or fragment: over-masking a path that
  // holds "@" is the safe mistake, showing a password that holds "/" or "@" is not
  const end = firstOf(url, ['?', '#'], start);
  const at = url.lastIndexOf('@', end - 1);
  let out = url;
  if (at >= start) {
    const info = url.slice(start, at);
    const colon = info.indexOf(':');
    const user = colon >= 0 ? info.slice(0, colon) : info;
    // a lone user name is no secret unless it is a token in disguise (long, no password): hide those too
    const shown = colon >= 0 || user.length < 20 ? `${user}${colon >= 0 ? `:${MASK}` : ''}` : MASK;
    out = `${url.slice(0, start)}${shown}@${url.slice(at + 1)}`;
  }
  return maskQuery(out);
}

function firstOf(text: string, chars: readonly string[], from: number): number {
  let best = text.length;
  for (const c of chars) {
    const i = text.indexOf(c, from);
    if (i >= 0 && i < best) best = i;
  }
  return best;
}

function maskQuery(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const hash = url.indexOf('#', q);
  const query = url.slice(q + 1, hash < 0 ? undefined : hash);
  const masked = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      return SECRET_PARAM.test(safeDecode(pair.slice(0, eq))) ? `${pair.slice(0, eq)}=${MASK}` : pair;
    })
    .join('&');
  return `${url.slice(0, q + 1)}${masked}${hash < 0 ? '' : url.slice(hash)}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Every URL in `text` masked (error messages, log lines). */
export function maskSecrets(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (url) => maskUrl(url));
}
