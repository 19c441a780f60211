// Which Hubble servers the relay talks to: it follows peer.Peer/Notify on the peer service (reconnecting
// after `retryTimeout` whenever that stream fails: in a cluster the `hubble-peer` Service may not be
// reachable yet), keeps one gRPC client per peer address, and checks each peer with ServerStatus
// (deadline `dialTimeout`) when it appears and then periodically, so its state is CONNECTED or UNAVAILABLE.
import { EventEmitter } from 'node:events';
import { ConnectError, createClient, type Client } from '@connectrpc/connect';
import { NodeState, Observer, peer, type ServerStatusResponse } from '@cilium-ts/api/hubble';
import type { Logger } from 'pino';
import { createH2cTransport, parseGrpcAddress } from './grpc-address.js';

export type ObserverClient = Client<typeof Observer>;

export interface Peer {
  name: string;
  address: string;
  state: NodeState;
  client: ObserverClient;
  /** The last ServerStatus this peer answered. */
  status?: ServerStatusResponse | undefined;
  lastError?: string | undefined;
}

export interface PeerManagerOptions {
  peerService: string;
  dialTimeoutMs: number;
  retryTimeoutMs: number;
  /** How often peers are checked (default min(retryTimeout, 5 s)). */
  checkIntervalMs?: number | undefined;
  log: Logger;
}

const errText = (e: unknown): string => (e instanceof ConnectError ? e.rawMessage : e instanceof Error ? e.message : String(e));

/** Emits 'connected' (Peer) when a peer becomes CONNECTED. */
export class PeerManager extends EventEmitter {
  readonly #peers = new Map<string, Peer>();
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #peerServiceState: { connected: boolean; lastError?: string | undefined } = { connected: false };
  #running: Promise<void> | undefined;

  constructor(private readonly o: PeerManagerOptions) {
    super();
    parseGrpcAddress(o.peerService, 'peer-service'); // fail early on a malformed address
  }

  start(): void {
    this.#running = this.#followPeerService();
    const every = this.o.checkIntervalMs ?? Math.min(this.o.retryTimeoutMs, 5000);
    this.#timer = setInterval(() => void this.checkAll(), every);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }

  list(): Peer[] {
    return [...this.#peers.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  connected(): Peer[] {
    return this.list().filter((p) => p.state === NodeState.NODE_CONNECTED);
  }

  get peerService(): { address: string; connected: boolean; lastError?: string | undefined } {
    return { address: this.o.peerService, ...this.#peerServiceState };
  }

  /** Marks a peer unavailable after a failed call (the next check may bring it back). */
  markUnavailable(p: Peer, e: unknown): void {
    if (!this.#peers.has(p.name)) return;
    if (p.state !== NodeState.NODE_UNAVAILABLE) this.o.log.warn({ peer: p.name, address: p.address, err: errText(e) }, 'peer unavailable');
    p.state = NodeState.NODE_UNAVAILABLE;
    p.lastError = errText(e);
  }

  /** ServerStatus on one peer with the dial timeout; updates and returns its state. */
  async check(p: Peer): Promise<Peer> {
    try {
      const s = await p.client.serverStatus({}, { timeoutMs: this.o.dialTimeoutMs, signal: this.#abort.signal });
      p.status = s;
      p.lastError = undefined;
      if (p.state !== NodeState.NODE_CONNECTED && this.#peers.get(p.name) === p) {
        p.state = NodeState.NODE_CONNECTED;
        this.o.log.info({ peer: p.name, address: p.address }, 'peer connected');
        this.emit('connected', p);
      }
    } catch (e) {
      if (this.#peers.get(p.name) === p) this.markUnavailable(p, e);
    }
    return p;
  }

  checkAll(): Promise<Peer[]> {
    return Promise.all(this.list().map((p) => this.check(p)));
  }

  /**
   * Checks every peer but waits at most `maxWaitMs`: a peer that has not answered by then keeps its last
   * known state (a black-holed address must not make ServerStatus slower than its clients' deadlines).
   */
  async checkAllWithin(maxWaitMs: number): Promise<Peer[]> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.checkAll(), new Promise<void>((resolve) => (timer = setTimeout(resolve, maxWaitMs)))]);
    clearTimeout(timer);
    return this.list();
  }

  #upsert(name: string, address: string): void {
    const prev = this.#peers.get(name);
    if (prev && prev.address === address) return;
    let client: ObserverClient;
    try {
      client = createClient(Observer, createH2cTransport(parseGrpcAddress(address, `address of peer ${name}`)));
    } catch (e) {
      this.o.log.error({ peer: name, address, err: errText(e) }, 'peer has an address the relay cannot dial; ignored');
      return;
    }
    const p: Peer = { name, address, state: NodeState.UNKNOWN_NODE_STATE, client };
    this.#peers.set(name, p);
    this.o.log.info({ peer: name, address }, prev ? 'peer updated' : 'peer added');
    void this.check(p);
  }

  #delete(name: string): void {
    if (this.#peers.delete(name)) this.o.log.info({ peer: name }, 'peer deleted');
  }

  async #followPeerService(): Promise<void> {
    const { ChangeNotificationType: T } = peer;
    const signal = this.#abort.signal;
    const client = createClient(peer.Peer, createH2cTransport(parseGrpcAddress(this.o.peerService, 'peer-service')));
    while (!signal.aborted) {
      // The first notification (the peer service always announces its own node) must come within the dial
      // timeout: an address nobody answers (e.g. a ClusterIP without a service load-balancer) would
      // otherwise hang until the kernel gives up on the SYN.
      const attempt = new AbortController();
      const dial = setTimeout(() => attempt.abort(new Error(`no answer within the dial timeout (${this.o.dialTimeoutMs} ms)`)), this.o.dialTimeoutMs);
      const stop = (): void => attempt.abort();
      signal.addEventListener('abort', stop, { once: true });
      try {
        for await (const n of client.notify({}, { signal: attempt.signal })) {
          clearTimeout(dial);
          if (!this.#peerServiceState.connected) {
            this.#peerServiceState = { connected: true };
            this.o.log.info({ peerService: this.o.peerService }, 'connected to the peer service');
          }
          if (n.type === T.PEER_DELETED) this.#delete(n.name);
          else if (n.type === T.PEER_ADDED || n.type === T.PEER_UPDATED) this.#upsert(n.name, n.address);
        }
        if (!signal.aborted) throw new Error('peer service ended the Notify stream');
      } catch (e) {
        if (signal.aborted) break;
        const reason: unknown = attempt.signal.aborted ? attempt.signal.reason : e;
        this.#peerServiceState = { connected: false, lastError: errText(reason) };
        this.o.log.warn({ peerService: this.o.peerService, err: errText(reason), retryInMs: this.o.retryTimeoutMs }, 'peer service unreachable; retrying');
      } finally {
        clearTimeout(dial);
        signal.removeEventListener('abort', stop);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, this.o.retryTimeoutMs);
        function done(): void {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }
}
