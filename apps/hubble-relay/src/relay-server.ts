// Hubble Relay's gRPC server: observer.Observer for the whole cluster on one address. GetFlows asks every
// connected peer with the client's request (filters, number, first, since/until passed through), merges
// by time (finished listings) or through a sort buffer (follow), and puts the node name on each response;
// ServerStatus sums the peers' counters and counts connected/unavailable nodes; GetNodes lists every peer
// with its state. grpc.health.v1 answers SERVING (the chart's probes). HTTP/2 cleartext, no TLS.
import * as http2 from 'node:http2';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import {
  GetFlowsResponseSchema,
  GetNamespacesResponseSchema,
  GetNodesResponseSchema,
  NamespaceSchema,
  NodeSchema,
  NodeState,
  NodeStatusEventSchema,
  Observer,
  ServerStatusResponseSchema,
  TLSSchema,
  health,
  type GetFlowsRequest,
  type GetFlowsResponse,
  type GetNamespacesResponse,
  type GetNodesResponse,
  type ServerStatusResponse,
} from '@cilium-ts/api/hubble';
import type { Logger } from 'pino';
import { mergeFinished, SortBuffer } from './flow-merge.js';
import type { Peer, PeerManager } from './peer-manager.js';
import { RelayError } from './relay-error.js';

export const RELAY_VERSION = 'cilium-ts 0.1.0';

/** ServerStatus/GetNodes wait this long for fresh answers from the peers, then use the last known state. */
const STATUS_WAIT_MS = 2000;

export interface RelayServerOptions {
  peers: PeerManager;
  sortBufferLenMax: number;
  sortBufferDrainTimeoutMs: number;
  /** Deadline of the calls that list flows without follow (per peer). */
  listTimeoutMs?: number | undefined;
  log: Logger;
}

const errText = (e: unknown): string => (e instanceof ConnectError ? e.rawMessage : e instanceof Error ? e.message : String(e));

export class RelayServer {
  readonly #startedNs = process.hrtime.bigint();
  readonly #lifetime = new AbortController();
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  #server: http2.Http2Server | undefined;
  #address: { host: string; port: number } | undefined;

  constructor(private readonly o: RelayServerOptions) {}

  get address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  #noPeers(): ConnectError {
    const ps = this.o.peers.peerService;
    const why = ps.connected ? 'the peer service lists no reachable node' : `peer service ${ps.address} unreachable${ps.lastError ? `: ${ps.lastError}` : ''}`;
    return new ConnectError(`no Hubble peer connected (${why})`, Code.Unavailable);
  }

  #nodeStatus(state: NodeState, names: string[], message = ''): GetFlowsResponse {
    return create(GetFlowsResponseSchema, { responseTypes: { case: 'nodeStatus', value: create(NodeStatusEventSchema, { stateChange: state, nodeNames: names, message }) } });
  }

  #tag(p: Peer, r: GetFlowsResponse): GetFlowsResponse {
    if (r.nodeName === '') r.nodeName = p.name;
    return r;
  }

  async *getFlows(req: GetFlowsRequest, signal: AbortSignal): AsyncGenerator<GetFlowsResponse> {
    if (req.first && req.follow) throw new ConnectError('first cannot be combined with follow', Code.InvalidArgument);
    const peers = this.o.peers.connected();
    if (peers.length === 0) throw this.#noPeers();
    yield this.#nodeStatus(NodeState.NODE_CONNECTED, peers.map((p) => p.name));
    const unavailable = this.o.peers.list().filter((p) => p.state !== NodeState.NODE_CONNECTED);
    if (unavailable.length > 0) yield this.#nodeStatus(NodeState.NODE_UNAVAILABLE, unavailable.map((p) => p.name));
    if (!req.follow) {
      const failed: string[] = [];
      const lists = await Promise.all(
        peers.map(async (p) => {
          const out: GetFlowsResponse[] = [];
          try {
            for await (const r of p.client.getFlows(req, { signal, timeoutMs: this.o.listTimeoutMs ?? 60_000 })) {
              if (r.responseTypes.case === 'flow' || r.responseTypes.case === 'lostEvents') out.push(this.#tag(p, r));
            }
          } catch (e) {
            if (e instanceof ConnectError && e.code === Code.InvalidArgument) throw e; // the request is wrong, not the peer
            if (!signal.aborted) {
              this.o.peers.markUnavailable(p, e);
              failed.push(p.name);
            }
          }
          return out;
        }),
      );
      if (failed.length > 0) yield this.#nodeStatus(NodeState.NODE_UNAVAILABLE, failed, 'GetFlows failed');
      for (const r of mergeFinished(lists, Number(req.number), req.first)) {
        if (signal.aborted) return;
        yield r;
      }
      return;
    }

    // follow: one stream per peer (peers that connect later join with only new flows)
    const buf = new SortBuffer(this.o.sortBufferLenMax, this.o.sortBufferDrainTimeoutMs);
    const streaming = new Set<string>();
    const follow = (p: Peer, r: GetFlowsRequest): void => {
      if (streaming.has(p.name) || signal.aborted) return;
      streaming.add(p.name);
      void (async () => {
        let error: unknown = new Error('the node ended the follow stream');
        try {
          for await (const res of p.client.getFlows(r, { signal })) buf.push(this.#tag(p, res));
        } catch (e) {
          if (e instanceof ConnectError && e.code === Code.InvalidArgument) {
            buf.close(e);
            return;
          }
          error = e;
        } finally {
          streaming.delete(p.name);
        }
        if (signal.aborted) return;
        // the node went away (or restarted): unavailable until a check succeeds, which emits 'connected'
        // and so resumes this stream with the node's new flows
        this.o.peers.markUnavailable(p, error);
        buf.push(this.#nodeStatus(NodeState.NODE_UNAVAILABLE, [p.name], errText(error)));
        void this.o.peers.check(p);
      })();
    };
    for (const p of peers) follow(p, req);
    const onConnected = (p: Peer): void => {
      buf.push(this.#nodeStatus(NodeState.NODE_CONNECTED, [p.name]));
      follow(p, { ...req, number: 0n, first: false });
    };
    this.o.peers.on('connected', onConnected);
    try {
      yield* buf.drain(signal);
    } finally {
      this.o.peers.off('connected', onConnected);
      buf.close();
    }
  }

  async serverStatus(): Promise<ServerStatusResponse> {
    const peers = await this.o.peers.checkAllWithin(STATUS_WAIT_MS);
    const up = peers.filter((p) => p.state === NodeState.NODE_CONNECTED && p.status);
    const down = peers.filter((p) => !(p.state === NodeState.NODE_CONNECTED && p.status));
    const sum = (f: (s: ServerStatusResponse) => bigint): bigint => up.reduce((a, p) => a + f(p.status!), 0n);
    return create(ServerStatusResponseSchema, {
      numFlows: sum((s) => s.numFlows),
      maxFlows: sum((s) => s.maxFlows),
      seenFlows: sum((s) => s.seenFlows),
      uptimeNs: process.hrtime.bigint() - this.#startedNs,
      numConnectedNodes: up.length,
      numUnavailableNodes: down.length,
      unavailableNodes: down.map((p) => p.name),
      version: RELAY_VERSION,
      flowsRate: up.reduce((a, p) => a + (p.status?.flowsRate ?? 0), 0),
    });
  }

  async nodes(): Promise<GetNodesResponse> {
    const peers = await this.o.peers.checkAllWithin(STATUS_WAIT_MS);
    return create(GetNodesResponseSchema, {
      nodes: peers.map((p) => {
        const s = p.state === NodeState.NODE_CONNECTED ? p.status : undefined;
        return create(NodeSchema, {
          name: p.name,
          version: s?.version ?? '',
          address: p.address,
          state: p.state === NodeState.UNKNOWN_NODE_STATE ? NodeState.NODE_UNAVAILABLE : p.state,
          tls: create(TLSSchema, { enabled: false }),
          uptimeNs: s?.uptimeNs ?? 0n,
          numFlows: s?.numFlows ?? 0n,
          maxFlows: s?.maxFlows ?? 0n,
          seenFlows: s?.seenFlows ?? 0n,
        });
      }),
    });
  }

  async namespaces(signal: AbortSignal): Promise<GetNamespacesResponse> {
    const seen = new Map<string, { cluster: string; namespace: string }>();
    await Promise.all(
      this.o.peers.connected().map(async (p) => {
        try {
          const r = await p.client.getNamespaces({}, { signal, timeoutMs: this.o.listTimeoutMs ?? 60_000 });
          for (const n of r.namespaces) seen.set(`${n.cluster}/${n.namespace}`, { cluster: n.cluster, namespace: n.namespace });
        } catch (e) {
          if (!signal.aborted) this.o.peers.markUnavailable(p, e);
        }
      }),
    );
    return create(GetNamespacesResponseSchema, {
      namespaces: [...seen.values()].sort((a, b) => a.namespace.localeCompare(b.namespace)).map((n) => create(NamespaceSchema, n)),
    });
  }

  routes(router: ConnectRouter): void {
    const life = (ctx: HandlerContext): AbortSignal => AbortSignal.any([ctx.signal, this.#lifetime.signal]);
    router.service(Observer, {
      getFlows: (req, ctx) => this.getFlows(req, life(ctx)),
      serverStatus: () => this.serverStatus(),
      getNodes: () => this.nodes(),
      getNamespaces: (_req, ctx) => this.namespaces(life(ctx)),
    });
    const { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus: Serving } = health;
    const known = (service: string): boolean => service === '' || service === 'observer.Observer';
    router.service(Health, {
      check: (req) => {
        if (!known(req.service)) throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
        return create(HealthCheckResponseSchema, { status: Serving.SERVING });
      },
      watch: async function* (req, ctx) {
        yield create(HealthCheckResponseSchema, { status: known(req.service) ? Serving.SERVING : Serving.SERVICE_UNKNOWN });
        const signal = ctx.signal;
        await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
      },
    });
  }

  /** Listens on host:port (empty host: '::', or '0.0.0.0' where IPv6 is off). */
  async listen(host: string, port: number): Promise<void> {
    const tryListen = (h: string): Promise<http2.Http2Server> => {
      const server = http2.createServer(connectNodeAdapter({ routes: (r) => this.routes(r), grpc: true, grpcWeb: true, connect: true }));
      server.on('session', (s) => {
        this.#sessions.add(s);
        s.once('close', () => this.#sessions.delete(s));
      });
      return new Promise((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) => {
          server.close();
          reject(new RelayError('RELAY_LISTEN', `hubble-relay: listen on ${h.includes(':') ? `[${h}]` : h}:${port}: ${e.message}`, 'pick a free --listen-address', e.errno));
        });
        server.listen({ host: h, port }, () => resolve(server));
      });
    };
    let server: http2.Http2Server;
    if (host === '') {
      try {
        server = await tryListen('::');
      } catch (e) {
        if (!(e instanceof RelayError) || !/EAFNOSUPPORT|EADDRNOTAVAIL/.test(e.message)) throw e;
        server = await tryListen('0.0.0.0');
      }
    } else {
      server = await tryListen(host);
    }
    this.#server = server;
    const a = server.address();
    this.#address = a !== null && typeof a === 'object' ? { host: a.address, port: a.port } : { host, port };
  }

  async close(): Promise<void> {
    this.#lifetime.abort();
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sessions) s.close();
    const t = setTimeout(() => {
      for (const s of this.#sessions) s.destroy();
    }, 1000);
    await closed;
    clearTimeout(t);
  }
}
