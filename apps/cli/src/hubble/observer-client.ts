// gRPC client of observer.Observer over HTTP/2: `unix:///path/to.sock`, `unix:path`, or `host:port`
// (optionally `http://host:port`), as the hubble CLI's --server accepts.
import * as net from 'node:net';
import { createClient, type Client, type Transport } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Observer, health } from '@cilium-ts/api/hubble';

export const DEFAULT_HUBBLE_SERVER = 'unix:///var/run/cilium/hubble.sock';

export type ObserverClient = Client<typeof Observer>;

export class HubbleClientError extends Error {
  readonly errno: number | undefined = undefined;
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'HubbleClientError';
  }
}

export type ServerAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export function parseServer(server: string): ServerAddress {
  if (server.startsWith('unix://')) return { kind: 'unix', path: server.slice('unix://'.length) };
  if (server.startsWith('unix:')) return { kind: 'unix', path: server.slice('unix:'.length) };
  if (server.startsWith('/')) return { kind: 'unix', path: server };
  const hp = server.replace(/^https?:\/\//, '');
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(hp);
  if (!m) {
    throw new HubbleClientError(
      'HUBBLE_BAD_SERVER',
      `invalid --server "${server}"`,
      'use unix:///path/to/hubble.sock or host:port',
    );
  }
  return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** A gRPC transport whose HTTP/2 session dials the unix socket (or TCP address) given. */
export function createHubbleTransport(server: string, opts: { timeoutMs?: number } = {}): Transport {
  const addr = parseServer(server);
  const timeout = opts.timeoutMs !== undefined ? { defaultTimeoutMs: opts.timeoutMs } : {};
  return addr.kind === 'unix'
    ? createGrpcTransport({
        baseUrl: 'http://localhost',
        nodeOptions: { createConnection: () => net.connect(addr.path) },
        ...timeout,
      })
    : createGrpcTransport({ baseUrl: `http://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`, ...timeout });
}

export function createObserverClient(server: string, opts: { timeoutMs?: number } = {}): ObserverClient {
  return createClient(Observer, createHubbleTransport(server, opts));
}

export type HealthClient = Client<typeof health.Health>;

export function createHealthClient(server: string, opts: { timeoutMs?: number } = {}): HealthClient {
  return createClient(health.Health, createHubbleTransport(server, opts));
}
