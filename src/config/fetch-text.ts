import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** A configuration text is small; anything larger is refused. */
const MAX_BYTES = 1024 * 1024;

export interface FetchOptions {
  /** Skip TLS verification (0.6's PLANCTON_CONF_NOSSLVERIFY). */
  readonly insecure?: boolean;
  readonly timeoutMs?: number;
}

/** The URL without its password, for messages. */
export function safeUrl(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
}

/** GETs `url` (http or https, no redirects followed beyond 5) as text; rejects on any status but 200. */
export function fetchText(url: string, opts: FetchOptions = {}, redirects = 5): Promise<string> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new Error(`not a URL: ${safeUrl(url)}`));
      return;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      reject(new Error(`unsupported protocol ${u.protocol} in ${safeUrl(url)}`));
      return;
    }
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(u, { method: 'GET', timeout: opts.timeoutMs ?? 15_000, rejectUnauthorized: !opts.insecure }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location && redirects > 0) {
        res.resume();
        fetchText(new URL(res.headers.location, u).toString(), opts, redirects - 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new Error(`GET ${safeUrl(url)}: HTTP ${status}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BYTES) req.destroy(new Error(`GET ${safeUrl(url)}: larger than ${MAX_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${safeUrl(url)}: timed out`)));
    req.on('error', (err) => reject(new Error(`GET ${safeUrl(url)}: ${err.message}`)));
    req.end();
  });
}
