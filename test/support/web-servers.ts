import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** A key and a self-signed certificate for 127.0.0.1, made by openssl in `dir`. */
export type KeyPair = { key: Buffer; cert: Buffer };

/** Makes a self-signed certificate for 127.0.0.1 in `dir` (openssl); throws when openssl is missing. */
export function selfSigned(dir: string): KeyPair {
  const [keyout, out] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'];
  execFileSync('openssl', [...args, '-keyout', keyout, '-out', out], { stdio: 'ignore' });
  return { key: readFileSync(keyout), cert: readFileSync(out) };
}

/** A plain and a TLS server on loopback serving the same handler. */
export interface WebServers {
  /** `http://127.0.0.1:PORT` */
  readonly http: string;
  /** `https://127.0.0.1:PORT` (self-signed) */
  readonly https: string;
  /** Drops every connection (also the ones a slow handler holds) and closes both servers. */
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Starts a plain and a TLS server on 127.0.0.1 with ephemeral ports, both answering with `handler`. */
export async function startWebServers(dir: string, handler: Handler): Promise<WebServers> {
  const servers: Server[] = [createServer(handler), createHttpsServer(selfSigned(dir), handler)];
  const ports = await Promise.all(
    servers.map(
      (s) =>
        new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port))),
    ),
  );
  return {
    http: `http://127.0.0.1:${ports[0]}`,
    https: `https://127.0.0.1:${ports[1]}`,
    close: async () => {
      await Promise.all(
        servers.map((s) => {
          s.closeAllConnections();
          return new Promise((resolve) => s.close(resolve));
        }),
      );
    },
  };
}
