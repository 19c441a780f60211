// Addresses the relay dials: `host:port` (IPv6 in brackets; DNS names resolved by Node as usual),
// `http://host:port`, or `unix:///path/to.sock`. Calls run over HTTP/2 cleartext (h2c): no TLS.
import * as net from 'node:net';
import type { Transport } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { RelayError } from './relay-error.js';

export type GrpcAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export function parseGrpcAddress(text: string, what: string): GrpcAddress {
  if (text.startsWith('unix://')) return { kind: 'unix', path: text.slice('unix://'.length) };
  if (text.startsWith('unix:')) return { kind: 'unix', path: text.slice('unix:'.length) };
  if (text.startsWith('/')) return { kind: 'unix', path: text };
  const hp = text.replace(/^(https?|dns):\/\/\/?/, '');
  const m = /^(\[[^\]]+\]|[^:/[\]]+):(\d{1,5})$/.exec(hp);
  if (!m) throw new RelayError('RELAY_BAD_ADDRESS', `invalid ${what} "${text}"`, 'use host:port (e.g. hubble-peer.kube-system.svc.cluster.local:80) or unix:///var/run/cilium/hubble.sock');
  return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** Long-lived streams (Notify, follow) learn of a dead peer within ~15 s through HTTP/2 pings. */
const KEEPALIVE = { pingIntervalMs: 10_000, pingTimeoutMs: 5_000 };

export function createH2cTransport(addr: GrpcAddress, opts: { timeoutMs?: number } = {}): Transport {
  const timeout = { ...KEEPALIVE, ...(opts.timeoutMs !== undefined ? { defaultTimeoutMs: opts.timeoutMs } : {}) };
  if (addr.kind === 'unix') {
    const path = addr.path;
    return createGrpcTransport({ baseUrl: 'http://localhost', nodeOptions: { createConnection: () => net.connect(path) }, ...timeout });
  }
  const host = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
  return createGrpcTransport({ baseUrl: `http://${host}:${addr.port}`, ...timeout });
}
