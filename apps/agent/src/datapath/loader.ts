import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BpfError, BpfObject, mountBpffs, tcAttach, tcDetach, type BpfMap, type BpfProgram, type TypedMap } from '@cilium-ts/ebpf';
import {
  MAP_CT4,
  MAP_ENDPOINTS,
  MAP_EVENTS,
  MAP_METRICS,
  MAP_TUNNEL,
  NODEPORT_PORT_MAX_NAT,
  NODEPORT_PORT_MIN_NAT,
  ctEntryCodec,
  ctKey4Codec,
  endpointInfoCodec,
  endpointKeyCodec,
  tunnelKeyCodec,
  tunnelValueCodec,
  MAP_LB4_AFFINITY,
  MAP_LB_AFFINITY_MATCH,
  MAP_LB4_BACKENDS,
  MAP_LB4_MAGLEV,
  MAP_LB4_REVERSE_NAT,
  MAP_LB4_SERVICES,
  lb4AffinityKeyCodec,
  lb4BackendCodec,
  lb4KeyCodec,
  lb4MaglevCodec,
  lb4ReverseNatCodec,
  lb4ServiceCodec,
  lbAffinityValCodec,
  lbAffinityMatchCodec,
  u8ValueCodec,
  u16KeyCodec,
  u32KeyCodec,
  type CtEntry,
  type CtKey4,
  type EndpointInfo,
  type EndpointKey,
  type TunnelKey,
  type TunnelValue,
} from '@cilium-ts/api';
import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';
import type { LbMaps } from '../service/service-manager.js';

export const PROG_FROM_CONTAINER = 'cil_from_container';
export const PROG_TO_CONTAINER = 'cil_to_container';
export const PROG_FROM_OVERLAY = 'cil_from_overlay';
/** tc filter handle and priority of our programs on every lxc device (as Cilium: 1/1). */
const TC_HANDLE = 1;
const TC_PRIORITY = 1;

export interface DatapathOptions {
  bpfDir: string;
  bpfRoot: string;
  monitorAggregation: 'none' | 'medium';
  log: Logger;
}

/**
 * Loads bpf_lxc.o once per agent, with its maps pinned by name under <bpf-root>/tc/globals so that a
 * restarted agent reuses them (endpoints and connection tracking survive), and attaches the same
 * programs to every endpoint's host-side veth.
 */
export class Datapath {
  readonly pinDir: string;
  #obj: BpfObject | undefined;
  #fromContainer: BpfProgram | undefined;
  #toContainer: BpfProgram | undefined;
  #overlayObj: BpfObject | undefined;
  #tunnelIfindex = 0;
  /** NODE_IP (.rodata, network order) and LB_ALGORITHM (1: Maglev) for the LB code of every object. */
  #nodeIp = 0;
  /** ROUTER_IP (.rodata, network order): the cilium_host address, which bpf_overlay hands to the stack. */
  #routerIp = 0;
  #lbAlgorithm = 0;
  /** NODEPORT_PORT_MIN_NAT_CFG (bpf_host rodata): the SNAT ports start right above the NodePort range, as Cilium. */
  #snatPortMin = NODEPORT_PORT_MIN_NAT;
  /** TUNNEL_PORT (bpf_host rodata, host order): the VXLAN port in tunnel mode, 0 otherwise. */
  #tunnelPort = 0;
  /** ENABLE_IPV4_FRAGMENTS (rodata of every object): 1 tracks the ports of fragmented datagrams (--enable-ipv4-fragment-tracking). */
  #fragTracking = 1;
  endpoints!: TypedMap<EndpointKey, EndpointInfo>;
  tunnel!: TypedMap<TunnelKey, TunnelValue>;
  ct!: TypedMap<CtKey4, CtEntry>;
  events!: BpfMap;
  metrics!: BpfMap;
  /** The service LB maps bpf_lxc.o declares (empty when the object has none of them). */
  lb: LbMaps = {};

  constructor(private readonly opts: DatapathOptions) {
    this.pinDir = join(opts.bpfRoot, 'tc', 'globals');
  }

  get objectPath(): string {
    return join(this.opts.bpfDir, 'bpf_lxc.o');
  }

  get overlayObjectPath(): string {
    return join(this.opts.bpfDir, 'bpf_overlay.o');
  }

  /** tunnelIfindex: the VXLAN device bpf_lxc redirects other nodes' pod CIDRs to (0: native routing). */
  start(o: { tunnelIfindex?: number; nodeIp?: string | undefined; routerIp?: string | undefined; lbAlgorithm?: 'random' | 'maglev'; nodePortMax?: number; tunnelPort?: number; fragmentTracking?: boolean } = {}): void {
    this.#fragTracking = o.fragmentTracking === false ? 0 : 1;
    this.#tunnelPort = o.tunnelIfindex ? (o.tunnelPort ?? 0) : 0;
    // NodePort max + 1 .. 65535; a NodePort range reaching that high would leave (almost) no SNAT ports: Cilium's default then
    this.#snatPortMin = o.nodePortMax !== undefined && o.nodePortMax + 1 <= NODEPORT_PORT_MAX_NAT - 1023 ? o.nodePortMax + 1 : NODEPORT_PORT_MIN_NAT;
    this.#routerIp = o.routerIp ? Buffer.from(o.routerIp.split('.').map(Number)).readUInt32LE(0) : 0;
    this.#tunnelIfindex = o.tunnelIfindex ?? 0;
    this.#nodeIp = o.nodeIp ? Buffer.from(o.nodeIp.split('.').map(Number)).readUInt32LE(0) : 0;
    this.#lbAlgorithm = o.lbAlgorithm === 'maglev' ? 1 : 0;
    if (!existsSync(this.objectPath)) {
      throw new AgentError('DATAPATH_OBJECT_MISSING', `datapath object ${this.objectPath} not found`, 'run `make build` (it compiles bpf/ with clang) or pass --bpf-dir');
    }
    mountBpffs(this.opts.bpfRoot);
    mkdirSync(this.pinDir, { recursive: true });
    try {
      this.#load();
    } catch (e) {
      // A pinned map whose layout no longer matches the object (an upgrade changed it) cannot be
      // reused: drop the pins and load fresh. Connections in flight lose their CT entries.
      if (!(e instanceof BpfError) || !/reuse|pinned|mismatch|incompatible/i.test(`${e.message} ${e.hint}`)) throw e;
      this.opts.log.warn({ err: e.message }, 'pinned maps incompatible with the datapath object; re-creating them');
      for (const f of readdirSync(this.pinDir)) rmSync(join(this.pinDir, f), { force: true });
      this.#load();
    }
  }

  #load(): void {
    const obj = BpfObject.open(this.objectPath, {
      pinRoot: this.pinDir,
      rodata: Datapath.rodataFor(this.objectPath, this.rodata),
    });
    try {
      obj.load();
      this.#fromContainer = obj.program(PROG_FROM_CONTAINER);
      this.#toContainer = obj.program(PROG_TO_CONTAINER);
      this.endpoints = obj.map(MAP_ENDPOINTS).typed(endpointKeyCodec, endpointInfoCodec);
      this.ct = obj.map(MAP_CT4).typed(ctKey4Codec, ctEntryCodec);
      this.events = obj.map(MAP_EVENTS);
      this.metrics = obj.map(MAP_METRICS);
      this.tunnel = obj.map(MAP_TUNNEL).typed(tunnelKeyCodec, tunnelValueCodec);
      this.lb = Datapath.openLbMaps(obj);
    } catch (e) {
      obj.close();
      throw e;
    }
    this.#obj = obj;
  }

  /** The LB maps of a loaded object that has them (a missing one is left out, never faked). */
  static openLbMaps(obj: BpfObject): LbMaps {
    const names = new Set(obj.mapNames());
    const lb: LbMaps = {};
    if (names.has(MAP_LB4_SERVICES)) lb.services = obj.map(MAP_LB4_SERVICES).typed(lb4KeyCodec, lb4ServiceCodec);
    if (names.has(MAP_LB4_BACKENDS)) lb.backends = obj.map(MAP_LB4_BACKENDS).typed(u32KeyCodec, lb4BackendCodec);
    if (names.has(MAP_LB4_REVERSE_NAT)) lb.revNat = obj.map(MAP_LB4_REVERSE_NAT).typed(u16KeyCodec, lb4ReverseNatCodec);
    if (names.has(MAP_LB4_MAGLEV)) lb.maglev = obj.map(MAP_LB4_MAGLEV).typed(u16KeyCodec, lb4MaglevCodec);
    if (names.has(MAP_LB4_AFFINITY)) lb.affinity = obj.map(MAP_LB4_AFFINITY).typed(lb4AffinityKeyCodec, lbAffinityValCodec);
    if (names.has(MAP_LB_AFFINITY_MATCH)) lb.affinityMatch = obj.map(MAP_LB_AFFINITY_MATCH).typed(lbAffinityMatchCodec, u8ValueCodec);
    return lb;
  }

  /** The loaded bpf_lxc object (after start()), e.g. for the socket LB to share its pin root. */
  get rodata(): Record<string, number> {
    return { MONITOR_AGGREGATION: this.opts.monitorAggregation === 'none' ? 0 : 2, TUNNEL_IFINDEX: this.#tunnelIfindex, NODE_IP: this.#nodeIp, ROUTER_IP: this.#routerIp, LB_ALGORITHM: this.#lbAlgorithm, NODEPORT_PORT_MIN_NAT_CFG: this.#snatPortMin, NODEPORT_PORT_MAX_NAT_CFG: NODEPORT_PORT_MAX_NAT, TUNNEL_PORT: this.#tunnelPort, ENABLE_IPV4_FRAGMENTS: this.#fragTracking };
  }

  /** The globals of `values` that the object declares (an older object without the LB globals still loads). */
  static rodataFor(path: string, values: Record<string, number>): Record<string, number> {
    const probe = BpfObject.open(path);
    try {
      const known = new Set(probe.rodataVars().map((v) => v.name));
      return Object.fromEntries(Object.entries(values).filter(([k]) => known.has(k)));
    } finally {
      probe.close();
    }
  }

  get bpfDir(): string {
    return this.opts.bpfDir;
  }

  /** Attaches (or atomically replaces) both programs on a host-side veth. */
  attach(ifindex: number): void {
    if (!this.#fromContainer || !this.#toContainer) throw new AgentError('DATAPATH_NOT_LOADED', 'datapath not loaded', 'call start() first');
    tcAttach({ ifindex, direction: 'ingress', program: this.#fromContainer, handle: TC_HANDLE, priority: TC_PRIORITY, replace: true });
    tcAttach({ ifindex, direction: 'egress', program: this.#toContainer, handle: TC_HANDLE, priority: TC_PRIORITY, replace: true });
  }

  detach(ifindex: number): void {
    for (const direction of ['ingress', 'egress'] as const) {
      try {
        tcDetach({ ifindex, direction, handle: TC_HANDLE, priority: TC_PRIORITY });
      } catch {
        // the link is already gone, and its filters with it
      }
    }
  }

  /**
   * Loads bpf_overlay.o on the same pinned maps (after start()) and attaches cil_from_overlay to the VXLAN
   * device's tc ingress (atomic replace, so a restarted agent never leaves the device unprogrammed).
   */
  attachOverlay(ifindex: number): void {
    if (!this.#obj) throw new AgentError('DATAPATH_NOT_LOADED', 'datapath not loaded', 'call start() first');
    if (!existsSync(this.overlayObjectPath)) {
      throw new AgentError('DATAPATH_OBJECT_MISSING', `datapath object ${this.overlayObjectPath} not found`, 'run `make build` (it compiles bpf/ with clang) or pass --bpf-dir');
    }
    this.#overlayObj?.close();
    const obj = BpfObject.open(this.overlayObjectPath, { pinRoot: this.pinDir, rodata: Datapath.rodataFor(this.overlayObjectPath, this.rodata) });
    try {
      obj.load();
      tcAttach({ ifindex, direction: 'ingress', program: obj.program(PROG_FROM_OVERLAY), handle: TC_HANDLE, priority: TC_PRIORITY, replace: true });
    } catch (e) {
      obj.close();
      throw e;
    }
    this.#overlayObj = obj;
  }

  /** Closes our handles. Programs stay attached and maps stay pinned: traffic keeps flowing. */
  close(): void {
    this.#overlayObj?.close();
    this.#overlayObj = undefined;
    this.#obj?.close();
    this.#obj = undefined;
    this.lb = {};
  }
}
