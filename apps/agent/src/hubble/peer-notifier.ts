// The agent side of Hubble's peer.Peer service: the Hubble servers of the cluster (this node and every node
// the NodeManager knows), each as `ip:port` of its Hubble TCP listener. Notify sends PEER_ADDED for every
// known peer, then PEER_ADDED / PEER_UPDATED / PEER_DELETED as the node list changes (checked every
// `pollMs` while a stream is open: the node list has no change events of its own).
import { create } from '@bufbuild/protobuf';
import { peer } from '@cilium-ts/api/hubble';
import { parseListenAddress } from './listen-address.js';

/** A node as the NodeManager knows it (only name and underlay IP matter here). */
export interface PeerNode {
  name: string;
  ip: string;
}

export interface PeerNotifierOptions {
  /** This node's name and underlay IPv4 (undefined: announced as 127.0.0.1). */
  localName: string;
  localIp: string | undefined;
  /**
   * This agent's `hubble-listen-address` (":4244"): its port is every node's Hubble port (the agents of a
   * cluster share their config); 4244, Cilium's default, when empty.
   */
  listenAddress: string;
  /** Cluster name: peers are named `<cluster>/<node>` unless it is `default`, as upstream. */
  clusterName?: string | undefined;
  /** The other nodes (this node, if listed, is skipped). */
  nodes: () => PeerNode[];
  pollMs?: number | undefined;
}

const { ChangeNotificationSchema, ChangeNotificationType: T } = peer;

export class PeerNotifier {
  private readonly port: number;

  constructor(private readonly o: PeerNotifierOptions) {
    let port = 4244;
    try {
      if (o.listenAddress !== '') port = parseListenAddress(o.listenAddress).port;
    } catch {
      // an invalid address is reported by serveTcp(); peers keep the default port
    }
    this.port = port;
  }

  private peerName(node: string): string {
    const c = this.o.clusterName;
    return c === undefined || c === '' || c === 'default' ? node : `${c}/${node}`;
  }

  private address(ip: string): string {
    return ip.includes(':') ? `[${ip}]:${this.port}` : `${ip}:${this.port}`;
  }

  /** name -> address of every peer, this node first. */
  peers(): Map<string, string> {
    const out = new Map<string, string>();
    out.set(this.peerName(this.o.localName), this.address(this.o.localIp ?? '127.0.0.1'));
    for (const n of this.o.nodes()) {
      if (n.name === this.o.localName) continue;
      out.set(this.peerName(n.name), this.address(n.ip));
    }
    return out;
  }

  /** peer.Peer/Notify: the current peers as PEER_ADDED, then every change until the signal aborts. */
  async *notify(signal: AbortSignal): AsyncGenerator<peer.ChangeNotification> {
    let known = new Map<string, string>();
    const pollMs = this.o.pollMs ?? 1000;
    while (!signal.aborted) {
      const now = this.peers();
      for (const [name, address] of now) {
        const before = known.get(name);
        if (before === address) continue;
        yield create(ChangeNotificationSchema, { name, address, type: before === undefined ? T.PEER_ADDED : T.PEER_UPDATED });
      }
      for (const [name, address] of known) {
        if (!now.has(name)) yield create(ChangeNotificationSchema, { name, address, type: T.PEER_DELETED });
      }
      known = now;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, pollMs);
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
