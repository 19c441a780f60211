import type { Netlink, Route, RouteSpec } from '@cilium-ts/netlink';
import { tunnelKeyCodec, tunnelValueCodec, type TunnelKey, type TunnelValue } from '@cilium-ts/api';
import { reconcileMap, type ReconcilableMap } from '../datapath/reconcile-map.js';
import { parseCidr, type Ipv4Cidr } from '../ipam/cidr.js';
import type { Logger } from '../log.js';
import { parseRemoteNode, type RemoteNode } from './remote-node.js';

/** rtm_protocol of the routes the agent installs (native mode: via the node; tunnel mode: encapsulated): how
 * it finds its own after a restart. */
export const ROUTE_PROTOCOL_NODE = 98;
/** The tunnel id (VNI) of the node's own encapsulated traffic: reserved:host. */
export const HOST_TUNNEL_ID = 1;

export interface NodeManagerOptions {
  routingMode: 'tunnel' | 'native';
  localNodeName: string;
  /** This node's underlay IPv4 (a remote node with this address is ourselves). */
  localNodeIp: string | undefined;
  /** This node's pod CIDRs: never routed or tunneled elsewhere. */
  localPodCidrs: string[];
  netlink: Netlink;
  /** cilium_tunnel_map (tunnel mode: one row per remote pod CIDR; native mode: kept empty). */
  tunnelMap: ReconcilableMap<TunnelKey, TunnelValue> & { lookup?(k: TunnelKey): TunnelValue | undefined };
  /** MTU put on native-mode routes. */
  routeMtu: number;
  /**
   * Tunnel mode: also route every remote pod CIDR through the VXLAN device with lightweight-tunnel
   * encapsulation to the node's underlay IP (source: the router IP on cilium_host), so the node itself
   * (and, for the replies, the pods' connections to other nodes' addresses) reaches other nodes' pods.
   */
  tunnelRoutes?: { ifindex: number; src: string };
  log: Logger;
}

export interface NodeReconcileResult {
  tunnel: { updated: number; deleted: number; unchanged: number };
  routes: { added: number; deleted: number; failed: number };
}

interface Row {
  cidr: Ipv4Cidr;
  node: RemoteNode;
}

/**
 * Remote nodes -> datapath state. Feed it with upsert()/delete() (CiliumNodes in Kubernetes mode) or
 * replaceAll() (the --remote-nodes-file). In tunnel mode it keeps cilium_tunnel_map at exactly one row per
 * remote pod CIDR (-> the node's underlay IP); in native mode it keeps one kernel route per remote pod
 * CIDR via the node's IP (protocol ROUTE_PROTOCOL_NODE) and the tunnel map empty.
 *
 * Until markSynced() (or replaceAll()) it only adds and updates: an agent that restarts before it has
 * heard of every node must not tear down the rows that keep cross-node traffic flowing.
 */
export class NodeManager {
  readonly #nodes = new Map<string, RemoteNode>();
  readonly #local: Ipv4Cidr[];
  #synced = false;
  #last: NodeReconcileResult | undefined;
  #lastError: string | undefined;

  constructor(private readonly o: NodeManagerOptions) {
    this.#local = o.localPodCidrs.map((c) => parseCidr(c));
  }

  get routingMode(): 'tunnel' | 'native' {
    return this.o.routingMode;
  }

  list(): RemoteNode[] {
    return [...this.#nodes.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): RemoteNode | undefined {
    return this.#nodes.get(name);
  }

  /** Adds or changes one node (validated) and reprograms the datapath. */
  upsert(raw: RemoteNode): NodeReconcileResult {
    const node = parseRemoteNode(raw);
    this.#nodes.set(node.name, node);
    return this.reconcile();
  }

  /** Forgets a node and removes its tunnel rows / routes. False if it was unknown. */
  delete(name: string): boolean {
    const node = this.#nodes.get(name);
    if (!node) return false;
    this.#nodes.delete(name);
    if (!this.#synced) this.#removeRowsOf(node);
    this.reconcile();
    return true;
  }

  /** Makes the known set exactly `nodes` (a full listing) and marks the manager synced. */
  replaceAll(nodes: RemoteNode[]): NodeReconcileResult {
    const parsed = nodes.map((n) => parseRemoteNode(n));
    this.#nodes.clear();
    for (const n of parsed) this.#nodes.set(n.name, n);
    this.#synced = true;
    return this.reconcile();
  }

  /** Every node has been heard of: from now on rows of unknown nodes are deleted. */
  markSynced(): NodeReconcileResult {
    this.#synced = true;
    return this.reconcile();
  }

  get synced(): boolean {
    return this.#synced;
  }

  status(): { routingMode: string; synced: boolean; nodes: number; last?: NodeReconcileResult; lastError?: string } {
    return {
      routingMode: this.o.routingMode,
      synced: this.#synced,
      nodes: this.#nodes.size,
      ...(this.#last ? { last: this.#last } : {}),
      ...(this.#lastError !== undefined ? { lastError: this.#lastError } : {}),
    };
  }

  /** The rows the datapath should hold: one per remote IPv4 pod CIDR, ourselves and clashes left out. */
  #rows(): Row[] {
    const rows = new Map<string, Row>();
    for (const node of this.list()) {
      if (node.name === this.o.localNodeName || node.ip === this.o.localNodeIp) continue;
      for (const text of node.podCIDRs) {
        const cidr = parseCidr(text);
        const clash = this.#local.find((l) => overlaps(l, cidr));
        if (clash) {
          this.o.log.warn({ node: node.name, cidr: cidr.text, local: clash.text }, 'remote pod CIDR overlaps this node\'s pod CIDR; ignored');
          continue;
        }
        const prev = rows.get(cidr.text);
        if (prev) {
          this.o.log.warn({ cidr: cidr.text, nodes: [prev.node.name, node.name] }, 'pod CIDR claimed by two nodes; the first (by name) wins');
          continue;
        }
        rows.set(cidr.text, { cidr, node });
      }
    }
    return [...rows.values()];
  }

  /** Programs the tunnel map and routes for the current set of nodes. */
  reconcile(): NodeReconcileResult {
    const rows = this.#rows();
    const tunnelRows: Array<[TunnelKey, TunnelValue]> =
      this.o.routingMode === 'tunnel' ? rows.map((r) => [{ ip: r.cidr.text.split('/')[0] ?? '', prefixLen: r.cidr.prefix }, { remoteIp: r.node.ip, flags: 0 }]) : [];
    let tunnel: NodeReconcileResult['tunnel'];
    if (this.#synced) {
      tunnel = reconcileMap(this.o.tunnelMap, tunnelRows, tunnelKeyCodec, tunnelValueCodec);
    } else {
      for (const [k, v] of tunnelRows) this.o.tunnelMap.update(k, v);
      tunnel = { updated: tunnelRows.length, deleted: 0, unchanged: 0 };
    }
    const routes = this.#reconcileRoutes(this.o.routingMode === 'native' || this.o.tunnelRoutes ? rows : []);
    const res = { tunnel, routes };
    this.#last = res;
    this.#lastError = routes.failed > 0 ? `${routes.failed} route(s) could not be installed (see the agent log)` : undefined;
    if (tunnel.updated + tunnel.deleted + routes.added + routes.deleted > 0) this.o.log.info({ nodes: this.#nodes.size, ...res }, 'remote nodes reconciled');
    return res;
  }

  /** The kernel route a remote pod CIDR gets in this routing mode. */
  #routeFor(dst: string, node: RemoteNode): RouteSpec {
    const t = this.o.routingMode === 'tunnel' ? this.o.tunnelRoutes : undefined;
    if (t) {
      // VNI 1: the host's identity (reserved:host), as Cilium's bpf_host puts it on the node's own traffic.
      return { dst, ifindex: t.ifindex, src: t.src, encap: { type: 'ip', id: HOST_TUNNEL_ID, dst: node.ip }, protocol: ROUTE_PROTOCOL_NODE, mtu: this.o.routeMtu };
    }
    return { dst, gateway: node.ip, protocol: ROUTE_PROTOCOL_NODE, mtu: this.o.routeMtu };
  }

  #reconcileRoutes(rows: Row[]): NodeReconcileResult['routes'] {
    const { netlink, log } = this.o;
    const res = { added: 0, deleted: 0, failed: 0 };
    const ours = netlink.routes({ family: 4 }).filter((r) => r.protocol === ROUTE_PROTOCOL_NODE);
    const want = new Map(rows.map((r) => [r.cidr.text, r]));
    const same = (r: Route, w: RouteSpec): boolean =>
      r.mtu === w.mtu && r.gateway === w.gateway && (w.encap ? r.encap?.dst === w.encap.dst && r.encap.id === w.encap.id && r.ifindex === w.ifindex && r.src === w.src : r.encap === undefined);
    for (const r of ours) {
      const w = want.get(r.dst);
      if (w && same(r, this.#routeFor(r.dst, w.node))) {
        want.delete(r.dst);
        continue;
      }
      if (w) continue; // replaced below
      if (!this.#synced) continue;
      if (netlink.deleteRoute({ dst: r.dst, protocol: ROUTE_PROTOCOL_NODE, ...(r.gateway !== undefined ? { gateway: r.gateway } : {}) })) res.deleted++;
    }
    for (const [dst, w] of want) {
      const spec = this.#routeFor(dst, w.node);
      try {
        netlink.addRoute({ ...spec, replace: true });
        res.added++;
      } catch (e) {
        res.failed++;
        log.error({ node: w.node.name, dst, via: w.node.ip, encap: spec.encap !== undefined, err: e instanceof Error ? e.message : String(e) }, 'cannot install the route to a remote pod CIDR (is the node IP reachable on the underlay?)');
      }
    }
    return res;
  }

  /** Before sync, delete() removes the node's own rows (the full reconcile would keep unknown ones). */
  #removeRowsOf(node: RemoteNode): void {
    const { netlink, tunnelMap } = this.o;
    for (const text of node.podCIDRs) {
      const c = parseCidr(text);
      const k = { ip: c.text.split('/')[0] ?? '', prefixLen: c.prefix };
      const cur = tunnelMap.lookup?.(k);
      if (!cur || cur.remoteIp === node.ip) tunnelMap.delete(k);
      const route = netlink.routes({ family: 4 }).find((r) => r.dst === c.text && r.protocol === ROUTE_PROTOCOL_NODE);
      if (route && (route.gateway === node.ip || route.encap?.dst === node.ip)) netlink.deleteRoute({ dst: c.text, protocol: ROUTE_PROTOCOL_NODE });
    }
  }
}

function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}
