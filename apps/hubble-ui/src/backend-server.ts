// hubble-ui backend: reads Hubble Relay (FLOWS_API_ADDR, gRPC over h2c) and serves what the page needs as
// JSON: GET /api/flows?last=N[&namespace=NS] (the last N flows of the cluster, oldest first),
// GET /api/status (relay ServerStatus + GetNodes), GET /healthz. A relay that cannot be reached gives 502
// with { code, message, hint } (the backend keeps running: the next request tries again).
import * as http from 'node:http';
import * as net from 'node:net';
import { create } from '@bufbuild/protobuf';
import { ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { FlowFilterSchema, GetFlowsRequestSchema, NodeState, Observer } from '@cilium-ts/api/hubble';
import { flowView, type FlowView } from './flow-view.js';
import { UiError } from './ui-error.js';

export interface BackendOptions {
  /** host:port or unix:///path of the relay (the chart: hubble-relay:80). */
  flowsApiAddr: string;
  timeoutMs?: number | undefined;
}

export function relayClient(addr: string, timeoutMs: number): Client<typeof Observer> {
  const opts = { defaultTimeoutMs: timeoutMs };
  if (addr.startsWith('unix://') || addr.startsWith('/')) {
    const path = addr.replace(/^unix:\/\//, '');
    return createClient(Observer, createGrpcTransport({ baseUrl: 'http://localhost', nodeOptions: { createConnection: () => net.connect(path) }, ...opts }));
  }
  const hp = addr.replace(/^https?:\/\//, '');
  if (!/^(\[[^\]]+\]|[^:/[\]]+):\d{1,5}$/.test(hp)) {
    throw new UiError('UI_BAD_FLOWS_API_ADDR', `invalid FLOWS_API_ADDR "${addr}"`, 'use host:port of Hubble Relay, e.g. hubble-relay:80');
  }
  return createClient(Observer, createGrpcTransport({ baseUrl: `http://${hp}`, ...opts }));
}

const MAX_LAST = 2000;

export class BackendServer {
  readonly #client: Client<typeof Observer>;
  #server: http.Server | undefined;

  constructor(private readonly o: BackendOptions) {
    this.#client = relayClient(o.flowsApiAddr, o.timeoutMs ?? 10_000);
  }

  async flows(last: number, namespace: string | undefined): Promise<FlowView[]> {
    const whitelist = namespace ? [create(FlowFilterSchema, { sourcePod: [`${namespace}/`] }), create(FlowFilterSchema, { destinationPod: [`${namespace}/`] })] : [];
    const out: FlowView[] = [];
    for await (const r of this.#client.getFlows(create(GetFlowsRequestSchema, { number: BigInt(last), whitelist }))) {
      if (r.responseTypes.case === 'flow') out.push(flowView(r.responseTypes.value, r.nodeName));
    }
    return out;
  }

  async status(): Promise<Record<string, unknown>> {
    const [s, n] = await Promise.all([this.#client.serverStatus({}), this.#client.getNodes({})]);
    return {
      relay: { address: this.o.flowsApiAddr, state: 'ok' },
      numFlows: Number(s.numFlows),
      maxFlows: Number(s.maxFlows),
      seenFlows: Number(s.seenFlows),
      numConnectedNodes: s.numConnectedNodes ?? 0,
      numUnavailableNodes: s.numUnavailableNodes ?? 0,
      unavailableNodes: s.unavailableNodes,
      version: s.version,
      nodes: n.nodes.map((x) => ({ name: x.name, address: x.address, state: NodeState[x.state] ?? String(x.state), numFlows: Number(x.numFlows), version: x.version })),
    };
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://backend');
    const send = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return send(405, { code: 'UI_METHOD', message: `${req.method} not allowed`, hint: 'use GET' });
    try {
      switch (url.pathname) {
        case '/healthz':
          return send(200, { status: 'ok' });
        case '/api/flows': {
          const raw = url.searchParams.get('last') ?? '100';
          const last = Number(raw);
          if (!Number.isInteger(last) || last < 1 || last > MAX_LAST) return send(400, { code: 'UI_BAD_LAST', message: `invalid last=${raw}`, hint: `use an integer 1..${MAX_LAST}` });
          const ns = url.searchParams.get('namespace') ?? undefined;
          return send(200, { flows: await this.flows(last, ns || undefined) });
        }
        case '/api/status':
          return send(200, await this.status());
        default:
          return send(404, { code: 'UI_NOT_FOUND', message: `no route ${url.pathname}`, hint: 'the backend serves /api/flows, /api/status, /healthz' });
      }
    } catch (e) {
      const message = e instanceof ConnectError ? e.rawMessage : e instanceof Error ? e.message : String(e);
      return send(502, { code: 'UI_RELAY_UNAVAILABLE', message: `Hubble Relay at ${this.o.flowsApiAddr}: ${message}`, hint: 'is hubble-relay running, and does FLOWS_API_ADDR reach it?' });
    }
  }

  listen(port: number, host = ''): Promise<number> {
    return listenHttp((req, res) => void this.handle(req, res), port, host).then((s) => {
      this.#server = s;
      const a = s.address();
      return a !== null && typeof a === 'object' ? a.port : port;
    });
  }

  close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return Promise.resolve();
    s.closeAllConnections();
    return new Promise((resolve) => s.close(() => resolve()));
  }
}

/** An HTTP server on host:port; an empty host tries '::' (dual stack), then '0.0.0.0'. */
export async function listenHttp(handler: http.RequestListener, port: number, host: string): Promise<http.Server> {
  const attempt = (h: string): Promise<http.Server> =>
    new Promise((resolve, reject) => {
      const s = http.createServer(handler);
      s.once('error', (e: NodeJS.ErrnoException) => {
        s.close();
        reject(new UiError('UI_LISTEN', `listen on ${h}:${port}: ${e.message}`, 'pick a free port', e.errno));
      });
      s.listen({ host: h, port }, () => resolve(s));
    });
  if (host !== '') return attempt(host);
  try {
    return await attempt('::');
  } catch (e) {
    if (e instanceof UiError && /EAFNOSUPPORT|EADDRNOTAVAIL/.test(e.message)) return attempt('0.0.0.0');
    throw e;
  }
}
