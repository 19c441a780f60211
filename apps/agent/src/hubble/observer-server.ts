// The agent's Hubble observer: decodes datapath events into flows, keeps the last N in a ring, and serves the
// gRPC `observer.Observer` service (GetFlows, ServerStatus, GetNodes, GetNamespaces) on a unix socket over
// HTTP/2, so that our `hubble` CLI and the upstream one can both talk to it. With a PeerNotifier it also serves
// `peer.Peer` (how Hubble Relay finds every node), and serveTcp() adds the TCP listener
// (`hubble-listen-address`, h2c: no TLS) that Relay dials.
import { mkdirSync, lstatSync, unlinkSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { dirname } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { timestampNow, type Timestamp } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import {
  GetFlowsResponseSchema,
  GetNamespacesResponseSchema,
  GetNodesResponseSchema,
  LostEventSchema,
  LostEventSource,
  NamespaceSchema,
  NodeSchema,
  NodeState,
  Observer,
  ServerStatusResponseSchema,
  TLSSchema,
  type Flow,
  type GetFlowsRequest,
  type GetFlowsResponse,
  type GetNamespacesResponse,
  type GetNodesResponse,
  type ServerStatusResponse,
  health,
  peer,
} from '@cilium-ts/api/hubble';
import type { EndpointResolver } from './endpoint-resolver.js';
import { compileFilters, type FlowPredicate } from './flow-filter.js';
import { checkFlowEventSize, FlowDecoder } from './flow-decoder.js';
import { DEFAULT_RING_CAPACITY, FlowRing } from './flow-ring.js';
import { HubbleError } from './hubble-error.js';
import { parseListenAddress } from './listen-address.js';
import type { PeerNotifier } from './peer-notifier.js';

export type { EndpointInfo, EndpointResolver } from './endpoint-resolver.js';

export interface FlowObserverOptions {
  nodeName: string;
  resolver: EndpointResolver;
  /** Ring capacity; Hubble's default is 4095. */
  capacity?: number | undefined;
  /** Reported in ServerStatus and GetNodes. */
  version?: string | undefined;
  /** ktime -> wall clock offset override (tests); computed once otherwise. */
  monotonicToWallNs?: bigint | undefined;
  /** Serves peer.Peer (Notify) next to the observer when given. */
  peers?: PeerNotifier | undefined;
}

/** Plain-number status for the agent's own status/health output. */
export interface ObserverStatus {
  numFlows: number;
  maxFlows: number;
  seenFlows: number;
  /** records the decoder rejected (bad size or type) */
  lostEvents: number;
  uptimeNs: bigint;
  /** flows per second over the last minute */
  flowsRate: number;
}

/** A ring entry: the raw datapath record until somebody reads it, then the decoded flow. */
interface FlowSlot {
  raw?: Uint8Array | undefined;
  flow?: Flow | undefined;
}

export const DEFAULT_HUBBLE_VERSION = 'cilium-ts 0.1.0';

function tsToNs(t: Timestamp): bigint {
  return t.seconds * 1_000_000_000n + BigInt(t.nanos);
}

export class FlowObserver {
  readonly nodeName: string;
  readonly version: string;
  /**
   * Raw datapath records are stored as they come and decoded into flows only when somebody reads them
   * (GetFlows, a follower, status): at high event rates the agent does a copy per record, not a decode.
   */
  private readonly ring: FlowRing<FlowSlot>;
  private readonly decoder: FlowDecoder;
  private readonly startedNs = process.hrtime.bigint();
  private lost = 0;
  private lastDecodeError: HubbleError | undefined;
  private server: http2.Http2Server | undefined;
  private socketPath: string | undefined;
  private tcpServer: http2.Http2Server | undefined;
  private tcpAddress: string | undefined;
  private readonly peers: PeerNotifier | undefined;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private lifetime = new AbortController();

  constructor(opts: FlowObserverOptions) {
    this.nodeName = opts.nodeName;
    this.version = opts.version ?? DEFAULT_HUBBLE_VERSION;
    this.ring = new FlowRing<FlowSlot>(opts.capacity ?? DEFAULT_RING_CAPACITY);
    this.peers = opts.peers;
    this.decoder = new FlowDecoder({
      nodeName: opts.nodeName,
      resolver: opts.resolver,
      ...(opts.monotonicToWallNs !== undefined ? { monotonicToWallNs: opts.monotonicToWallNs } : {}),
    });
  }

  /**
   * One ring-buffer record (`struct flow_event`), kept raw until read. Records of the wrong size are counted
   * as lost at once; other malformed records when they are decoded. Never throws.
   */
  onEvent(buf: Uint8Array): void {
    try {
      checkFlowEventSize(buf);
    } catch (e) {
      this.lost++;
      if (e instanceof HubbleError) this.lastDecodeError = e;
      return;
    }
    this.ring.push({ raw: buf });
  }

  /** Adds an already decoded flow (e.g. from another source such as an L7 proxy). */
  pushFlow(flow: Flow): void {
    this.ring.push({ flow });
  }

  /** The slot's flow, decoded on first use; undefined (and counted as lost) if the record is malformed. */
  private flowOf(slot: FlowSlot): Flow | undefined {
    if (slot.flow) return slot.flow;
    const raw = slot.raw;
    if (!raw) return undefined;
    slot.raw = undefined;
    try {
      slot.flow = this.decoder.decode(raw);
    } catch (e) {
      this.lost++;
      if (e instanceof HubbleError) this.lastDecodeError = e;
    }
    return slot.flow;
  }

  /** Stored flows newest first, decoding as it goes. */
  private *newestFlows(): Generator<Flow> {
    for (const [, slot] of this.ring.newestFirst()) {
      const f = this.flowOf(slot);
      if (f) yield f;
    }
  }

  /** Follow streams currently waiting for the next flow. */
  get followers(): number {
    return this.ring.waiting;
  }

  /** The most recent decode failure, if any (for diagnostics). */
  get lastError(): HubbleError | undefined {
    return this.lastDecodeError;
  }

  /** Stored flows, oldest first. */
  flows(): Flow[] {
    return this.ring.snapshot().flatMap((slot) => this.flowOf(slot) ?? []);
  }

  status(): ObserverStatus {
    return {
      numFlows: this.ring.size,
      maxFlows: this.ring.capacity,
      seenFlows: this.ring.seen,
      lostEvents: this.lost,
      uptimeNs: process.hrtime.bigint() - this.startedNs,
      flowsRate: this.flowsRate(),
    };
  }

  /** Alias of status() (the agent's status endpoint uses this name). */
  serverStatus(): ObserverStatus {
    return this.status();
  }

  private flowsRate(): number {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const horizon = nowNs - 60_000_000_000n;
    let n = 0;
    for (const f of this.newestFlows()) {
      if (!f.time || tsToNs(f.time) < horizon) break;
      n++;
    }
    return n / 60;
  }

  // ---- gRPC handlers ----

  serverStatusResponse(): ServerStatusResponse {
    const s = this.status();
    return create(ServerStatusResponseSchema, {
      numFlows: BigInt(s.numFlows),
      maxFlows: BigInt(s.maxFlows),
      seenFlows: BigInt(s.seenFlows),
      uptimeNs: s.uptimeNs,
      numConnectedNodes: 1,
      numUnavailableNodes: 0,
      version: this.version,
      flowsRate: s.flowsRate,
    });
  }

  nodesResponse(): GetNodesResponse {
    const s = this.status();
    return create(GetNodesResponseSchema, {
      nodes: [
        create(NodeSchema, {
          name: this.nodeName,
          version: this.version,
          address: this.tcpAddress ?? (this.socketPath !== undefined ? `unix://${this.socketPath}` : ''),
          state: NodeState.NODE_CONNECTED,
          tls: create(TLSSchema, { enabled: false }),
          uptimeNs: s.uptimeNs,
          numFlows: BigInt(s.numFlows),
          maxFlows: BigInt(s.maxFlows),
          seenFlows: BigInt(s.seenFlows),
        }),
      ],
    });
  }

  namespacesResponse(): GetNamespacesResponse {
    const seen = new Set<string>();
    for (const f of this.newestFlows()) {
      for (const ns of [f.source?.namespace, f.destination?.namespace]) if (ns) seen.add(ns);
    }
    return create(GetNamespacesResponseSchema, {
      namespaces: [...seen].sort().map((namespace) => create(NamespaceSchema, { namespace })),
    });
  }

  private flowResponse(f: Flow): GetFlowsResponse {
    return create(GetFlowsResponseSchema, {
      responseTypes: { case: 'flow', value: f },
      nodeName: this.nodeName,
      ...(f.time ? { time: f.time } : {}),
    });
  }

  /**
   * GetFlows: the last `number` matching flows (or the first, with `first`), then with `follow` every new
   * matching flow until the client goes away. since/until bound flow times. With number = 0 and no follow, all
   * stored matching flows.
   */
  async *getFlows(req: GetFlowsRequest, signal: AbortSignal): AsyncGenerator<GetFlowsResponse> {
    let pred: FlowPredicate;
    try {
      pred = compileFilters(req.whitelist, req.blacklist);
    } catch (e) {
      if (e instanceof HubbleError) throw new ConnectError(`${e.message} (${e.hint})`, Code.InvalidArgument);
      throw e;
    }
    if (req.first && req.follow) {
      throw new ConnectError('first cannot be combined with follow', Code.InvalidArgument);
    }
    const since = req.since ? tsToNs(req.since) : undefined;
    const until = req.until ? tsToNs(req.until) : undefined;
    const inWindow = (f: Flow): boolean => {
      if (since === undefined && until === undefined) return true;
      const t = f.time ? tsToNs(f.time) : 0n;
      return (since === undefined || t >= since) && (until === undefined || t <= until);
    };
    const match = (f: Flow): boolean => inWindow(f) && pred(f);
    const limit = req.number > 0n ? Number(req.number) : Infinity;
    const boundary = this.ring.nextSeq;

    const history: Flow[] = [];
    if (req.first) {
      for (const [, slot] of this.ring.oldestFirst()) {
        if (history.length >= limit) break;
        const f = this.flowOf(slot);
        if (f && match(f)) history.push(f);
      }
    } else if (req.number > 0n || !req.follow || since !== undefined) {
      for (const f of this.newestFlows()) {
        if (history.length >= limit) break;
        if (match(f)) history.push(f);
      }
      history.reverse();
    }
    for (const f of history) {
      if (signal.aborted) return;
      yield this.flowResponse(f);
    }
    if (!req.follow) return;

    for await (const r of this.ring.follow({ fromSeq: boundary, signal })) {
      if (r.kind === 'lost') {
        yield create(GetFlowsResponseSchema, {
          responseTypes: {
            case: 'lostEvents',
            value: create(LostEventSchema, { source: LostEventSource.HUBBLE_RING_BUFFER, numEventsLost: BigInt(r.count) }),
          },
          nodeName: this.nodeName,
          time: timestampNow(),
        });
        continue;
      }
      const f = this.flowOf(r.value);
      if (!f) continue;
      if (until !== undefined && f.time && tsToNs(f.time) > until) return;
      if (match(f)) yield this.flowResponse(f);
    }
  }

  private async *healthWatch(known: boolean, signal: AbortSignal): AsyncGenerator<health.HealthCheckResponse> {
    const { HealthCheckResponseSchema, HealthCheckResponse_ServingStatus: Serving } = health;
    yield create(HealthCheckResponseSchema, { status: known ? Serving.SERVING : Serving.SERVICE_UNKNOWN });
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  routes(router: ConnectRouter): void {
    router.service(Observer, {
      getFlows: (req: GetFlowsRequest, ctx: HandlerContext) =>
        this.getFlows(req, AbortSignal.any([ctx.signal, this.lifetime.signal])),
      serverStatus: () => this.serverStatusResponse(),
      getNodes: () => this.nodesResponse(),
      getNamespaces: () => this.namespacesResponse(),
    });
    // grpc.health.v1, which upstream `hubble status` checks first
    const { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus: Serving } = health;
    const known = (service: string): boolean => service === '' || service === 'observer.Observer' || (this.peers !== undefined && service === 'peer.Peer');
    router.service(Health, {
      check: (req) => {
        if (!known(req.service)) throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
        return create(HealthCheckResponseSchema, { status: Serving.SERVING });
      },
      watch: (req, ctx) => this.healthWatch(known(req.service), AbortSignal.any([ctx.signal, this.lifetime.signal])),
    });
    const peers = this.peers;
    if (peers) {
      router.service(peer.Peer, {
        notify: (_req, ctx) => peers.notify(AbortSignal.any([ctx.signal, this.lifetime.signal])),
      });
    }
  }

  private createServer(): http2.Http2Server {
    const server = http2.createServer(
      connectNodeAdapter({ routes: (r) => this.routes(r), grpc: true, grpcWeb: true, connect: true }),
    );
    server.on('session', (s) => {
      this.sessions.add(s);
      s.once('close', () => this.sessions.delete(s));
    });
    return server;
  }

  /** The TCP address serveTcp() listens on (host:port, the port resolved), if any. */
  get tcpListenAddress(): string | undefined {
    return this.tcpAddress;
  }

  /**
   * The Hubble TCP listener (`hubble-listen-address`, e.g. ":4244"): the same services as the unix socket,
   * over HTTP/2 cleartext (no TLS). An empty host listens on every address ('::', or '0.0.0.0' without IPv6).
   */
  async serveTcp(address: string): Promise<void> {
    if (this.tcpServer) throw new HubbleError('HUBBLE_ALREADY_SERVING', `hubble observer already serves on ${this.tcpAddress}`, 'call stop() first');
    const { host, port } = parseListenAddress(address);
    if (this.lifetime.signal.aborted) this.lifetime = new AbortController();
    const listen = (h: string): Promise<http2.Http2Server> => {
      const server = this.createServer();
      return new Promise((resolve, reject) => {
        const onError = (e: NodeJS.ErrnoException): void => {
          server.close();
          reject(
            new HubbleError(
              'HUBBLE_LISTEN',
              `hubble server: listen on ${address}: ${e.message}`,
              'another process holds the port: give this agent another --hubble-listen-address (or "" for none)',
              e.errno,
            ),
          );
        };
        server.once('error', onError);
        server.listen({ port, host: h }, () => {
          server.off('error', onError);
          resolve(server);
        });
      });
    };
    let server: http2.Http2Server;
    if (host === '') {
      try {
        server = await listen('::');
      } catch (e) {
        if (!(e instanceof HubbleError) || !/EAFNOSUPPORT|EADDRNOTAVAIL/.test(e.message)) throw e;
        server = await listen('0.0.0.0');
      }
    } else {
      server = await listen(host);
    }
    const a = server.address();
    this.tcpServer = server;
    this.tcpAddress = a !== null && typeof a === 'object' ? `${host === '' ? '' : a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` : address;
  }

  /**
   * Serves gRPC (and Connect, gRPC-Web) over HTTP/2 cleartext on a unix socket. Creates the directory and
   * removes a stale socket file; refuses a socket another process is still serving on.
   */
  async serve(socketPath: string): Promise<void> {
    if (this.server) throw new HubbleError('HUBBLE_ALREADY_SERVING', `hubble observer already serves on ${this.socketPath}`, 'call stop() first');
    mkdirSync(dirname(socketPath), { recursive: true });
    await removeStaleSocket(socketPath);
    if (this.lifetime.signal.aborted) this.lifetime = new AbortController();
    const server = this.createServer();
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        reject(
          new HubbleError(
            'HUBBLE_LISTEN',
            `hubble observer: listen on unix socket ${socketPath}: ${e.message}`,
            'check that the directory is writable and no other agent uses this --hubble-socket-path',
            e.errno,
          ),
        );
      };
      server.once('error', onError);
      server.listen(socketPath, () => {
        server.off('error', onError);
        resolve();
      });
    });
    this.server = server;
    this.socketPath = socketPath;
  }

  /** Ends follow streams, closes connections and the listener, removes the socket file. */
  async stop(): Promise<void> {
    this.lifetime.abort();
    const tcp = this.tcpServer;
    this.tcpServer = undefined;
    this.tcpAddress = undefined;
    const tcpClosed = tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : Promise.resolve();
    const server = this.server;
    if (!server) {
      for (const s of this.sessions) s.destroy();
      await tcpClosed;
      return;
    }
    this.server = undefined;
    const closed = Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), tcpClosed]);
    // followers end through the abort signal; give their streams a moment to finish, then cut what is left
    for (const s of this.sessions) s.close();
    const timer = setTimeout(() => {
      for (const s of this.sessions) s.destroy();
    }, 1000);
    await closed;
    clearTimeout(timer);
    if (this.socketPath !== undefined) {
      try {
        unlinkSync(this.socketPath);
      } catch {
        // already gone: fine
      }
    }
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket()) {
    throw new HubbleError(
      'HUBBLE_SOCKET_PATH',
      `hubble observer: ${path} exists and is not a socket`,
      'point --hubble-socket-path at a free path or remove the file',
    );
  }
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) {
    throw new HubbleError(
      'HUBBLE_SOCKET_IN_USE',
      `hubble observer: another process serves on ${path}`,
      'stop the other agent or give this one a different --hubble-socket-path',
    );
  }
  unlinkSync(path);
}
