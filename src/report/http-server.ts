import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { ListenAddress } from '../config/schema/listen-address.ts';
import type { Logger } from './logger.ts';
import type { Reporter } from './reporter.ts';
import { unhealthyReason, type StatusReport } from './status.ts';

export interface MetricsServerOptions {
  readonly registry: Registry;
  readonly logger: Logger;
  readonly now?: () => number;
  /** When set, /metrics and /status need `Authorization: Bearer <token>` (metrics_token); /healthz stays open for probes. */
  readonly token?: string | undefined;
}

/** Compares in constant time (hashes first, so that lengths do not matter). */
function sameToken(given: string, expected: string): boolean {
  const h = (t: string): Buffer => createHash('sha256').update(t).digest();
  return timingSafeEqual(h(given), h(expected));
}

/**
 * The HTTP endpoints: `/metrics` (Prometheus text), `/healthz` (200 while the loop reports and
 * the engine answers, else 503 with the reason in JSON, the rule of `plancton health`), and
 * `/status` (the latest report, as `plancton status --json`). GET and HEAD only. A Reporter, to
 * keep the latest report.
 */
export class MetricsServer implements Reporter {
  readonly #server: Server;
  readonly #o: MetricsServerOptions;
  #report: StatusReport | undefined;

  private constructor(server: Server, o: MetricsServerOptions) {
    this.#server = server;
    this.#o = o;
  }

  /** Listens on `address`; rejects with a clear message when the port is taken or the address is not local. */
  static async start(address: ListenAddress, o: MetricsServerOptions): Promise<MetricsServer> {
    // a scraper or probe that stalls must not hold sockets for long: node checks the header and
    // request time-outs only every connectionsCheckingInterval (30 s by default), so 64 clients
    // sending nothing held every slot for that long; idle keep-alive sockets go too
    const server = createServer({
      connectionsCheckingInterval: 1_000,
      headersTimeout: 5_000,
      requestTimeout: 10_000,
      keepAliveTimeout: 5_000,
    });
    const self = new MetricsServer(server, o);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void self.#handle(req, res));
    server.timeout = 10_000;
    server.on('timeout', (socket: Socket) => socket.destroy());
    server.maxConnections = 64;
    const shown = `${address.host === undefined ? '' : address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const why =
          err.code === 'EADDRINUSE'
            ? 'the port is already in use'
            : err.code === 'EADDRNOTAVAIL'
              ? "the address is not one of this host's"
              : err.code === 'EACCES'
                ? 'permission denied (ports below 1024 need privileges)'
                : err.message;
        reject(new Error(`metrics_listen ${shown}: cannot listen: ${why}`, { cause: err }));
      };
      server.once('error', onError);
      server.listen(address.port, address.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => o.logger.error(`metrics server: ${err.message}`));
    o.logger.info(`serving /metrics, /healthz and /status on ${shown}`, { port: self.port });
    return self;
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  iteration(report: StatusReport): void {
    this.#report = report;
  }

  removal(): void {
    // the report carries the latest removals
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /** Why the daemon is unhealthy, or undefined when it is healthy. */
  health(): string | undefined {
    if (!this.#report) return 'no iteration yet';
    return unhealthyReason(this.#report, true, (this.#o.now ?? Date.now)());
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return send(req, res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' });
      }
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const token = this.#o.token;
      if (token && path !== '/healthz') {
        const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
        if (!m || !sameToken(m[1] ?? '', token)) {
          return send(req, res, 401, 'text/plain; charset=utf-8', 'a bearer token is required (metrics_token)\n', {
            'WWW-Authenticate': 'Bearer realm="plancton"',
          });
        }
      }
      if (path === '/metrics') {
        return send(req, res, 200, this.#o.registry.contentType, await this.#o.registry.metrics());
      }
      if (path === '/healthz') {
        const reason = this.health();
        const body = reason
          ? { status: 'unhealthy', reason }
          : { status: 'healthy', state: this.#report?.state, pilots: this.#report?.pilots.length };
        return send(req, res, reason ? 503 : 200, 'application/json', `${JSON.stringify(body)}\n`);
      }
      if (path === '/status') {
        if (!this.#report)
          return send(
            req,
            res,
            503,
            'application/json',
            `${JSON.stringify({ running: true, pid: process.pid, error: 'no iteration yet' })}\n`,
          );
        return send(
          req,
          res,
          200,
          'application/json',
          `${JSON.stringify({ running: true, ...this.#report }, null, 2)}\n`,
        );
      }
      return send(req, res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics, /healthz or /status\n');
    } catch (err) {
      this.#o.logger.warn(`metrics server: ${(err as Error).message}`);
      if (!res.headersSent) send(req, res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    }
  }
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
