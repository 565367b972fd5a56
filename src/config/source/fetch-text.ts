import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { maskSecrets, maskUrl } from './mask.ts';

/** A configuration text is small; anything larger is refused while it streams in. */
export const MAX_FETCH_BYTES = 1024 * 1024;

/** The whole fetch (connection, redirects, headers and body) must be over within this, by default. */
export const DEFAULT_FETCH_DEADLINE_MS = 30_000;

const MAX_REDIRECTS = 5;

export interface FetchOptions {
  /** Skip TLS verification (0.6's PLANCTON_CONF_NOSSLVERIFY). */
  readonly insecureTls?: boolean;
  /** Allow plain http to a host other than loopback (PLANCTON_CONF_ALLOW_HTTP). */
  readonly allowHttp?: boolean;
  /** Total time for the fetch, body included. */
  readonly deadlineMs?: number;
  /** Aborts the fetch (the daemon's stop). */
  readonly signal?: AbortSignal;
}

/** A configuration URL that could not be fetched: the server, the network, or a rule of ours. */
export class FetchError extends Error {
  override readonly name = 'FetchError';
}

/** The URL without its credentials, for messages. */
export const safeUrl = maskUrl;

const loopback = (host: string): boolean => {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
};

/**
 * GETs `url` as text. https is required (plain http only to loopback, or with `allowHttp`); a
 * redirect may not go from https to http; at most 5 redirects; the whole fetch, body included,
 * ends at the deadline (a server dripping a byte every 2 s fails then, not later); the body is
 * capped while it streams. Rejects with a FetchError whose message never holds a credential.
 */
export async function fetchText(url: string, opts: FetchOptions = {}): Promise<string> {
  const deadlineMs = opts.deadlineMs ?? DEFAULT_FETCH_DEADLINE_MS;
  const deadline = AbortSignal.timeout(deadlineMs);
  const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
  let current = url;
  let secure = false;
  for (let hop = 0; ; hop++) {
    const u = checkUrl(current, opts, secure);
    secure = u.protocol === 'https:';
    try {
      const res = await get(u, opts, signal);
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (hop >= MAX_REDIRECTS) throw new FetchError(`GET ${maskUrl(url)}: more than ${MAX_REDIRECTS} redirects`);
        current = new URL(res.headers.location, u).toString();
        continue;
      }
      if (status !== 200) {
        res.resume();
        throw new FetchError(`GET ${maskUrl(current)}: HTTP ${status}`);
      }
      return await body(res, current, signal);
    } catch (err) {
      if (err instanceof FetchError) throw err;
      if (deadline.aborted)
        throw new FetchError(`GET ${maskUrl(current)}: no complete answer within ${deadlineMs / 1000} s`);
      if (signal.aborted) throw new FetchError(`GET ${maskUrl(current)}: aborted`);
      throw new FetchError(`GET ${maskUrl(current)}: ${maskSecrets((err as Error).message)}`, { cause: err });
    }
  }
}

function checkUrl(text: string, opts: FetchOptions, fromHttps: boolean): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new FetchError(`not a URL: ${maskUrl(text)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new FetchError(`unsupported protocol ${u.protocol} in ${maskUrl(text)}`);
  if (u.protocol === 'http:' && fromHttps)
    throw new FetchError(`refused a redirect from https to plain http (${maskUrl(text)})`);
  if (u.protocol === 'http:' && !opts.allowHttp && !loopback(u.hostname)) {
    throw new FetchError(
      `${maskUrl(text)}: plain http can be read and changed on the way; use https, or set PLANCTON_CONF_ALLOW_HTTP=1 to accept it`,
    );
  }
  return u;
}

function get(u: URL, opts: FetchOptions, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      u,
      {
        method: 'GET',
        signal,
        rejectUnauthorized: !opts.insecureTls,
        headers: { accept: 'application/yaml, text/yaml, text/plain, */*' },
      },
      resolve,
    );
    req.on('error', reject);
    req.end();
  });
}

function body(res: IncomingMessage, url: string, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(res.headers['content-length'] ?? 0);
    if (declared > MAX_FETCH_BYTES) {
      res.destroy();
      reject(new FetchError(`GET ${maskUrl(url)}: larger than ${MAX_FETCH_BYTES} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onAbort = (): void => void res.destroy(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_FETCH_BYTES)
        res.destroy(new FetchError(`GET ${maskUrl(url)}: larger than ${MAX_FETCH_BYTES} bytes`));
      else chunks.push(c);
    });
    res.on('end', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    res.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
    res.on('close', () => {
      if (!res.complete) reject(new Error('connection closed before the end of the body'));
    });
  });
}
