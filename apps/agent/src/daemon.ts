import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RingBuffer } from '@cilium-ts/ebpf';
import { Netlink } from '@cilium-ts/netlink';
import type { DaemonConfigurationResponse, IpamResponse, StatusResponse } from '@cilium-ts/api';
import type { AgentConfig } from './config.js';
import { AgentError } from './errors.js';
import type { Logger } from './log.js';
import { HostScopeIpam, IpamError } from './ipam/host-scope-ipam.js';
import { StateStore } from './state-store.js';
import { Datapath } from './datapath/loader.js';
import { ctGc } from './datapath/ct-gc.js';
import { EndpointManager } from './endpoint/endpoint-manager.js';
import { ApiServer } from './api/api-server.js';
import { ensureHostDevice } from './host-device.js';
import { installMasquerade } from './datapath/masquerade.js';
import { FlowObserver } from './hubble/observer-server.js';
import { PeerNotifier } from './hubble/peer-notifier.js';
import { cniHandler } from './cni/cni-handler.js';
import { NodeManager } from './node/node-manager.js';
import { RemoteNodesFile } from './node/remote-nodes-file.js';
import { findNodeAddress, type NodeAddress } from './node/node-address.js';
import { ensureTunnelDevice, VXLAN_OVERHEAD } from './node/tunnel-device.js';
import { K8sAgent } from './k8s/k8s-agent.js';
import { HealthServer } from './k8s/health-server.js';
// ---- services / kube-proxy replacement ----
import { join as joinPath } from 'node:path';
import { probeKernel } from '@cilium-ts/ebpf';
import { ServiceManager } from './service/service-manager.js';
import { parsePortRange, resolveKubeProxyReplacement, type KprResolution } from './service/kube-proxy-replacement.js';
import { protectNodePortRange } from './service/node-port-range.js';
import { maglevSeed } from './service/maglev.js';
import { SocketLb, cgroupRootProblem } from './datapath/socket-lb.js';
import { HostLb } from './datapath/host-lb.js';
import { serviceRoutes } from './api/service-routes.js';

interface ControllerStatus {
  successCount: number;
  failureCount: number;
  consecutiveFailures: number;
  lastFailure?: string;
  lastSuccess?: string;
}

/** Finds bpf/build next to the bundle (bin/../bpf/build) or above the source tree. */
export function defaultBpfDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const c = join(dir, 'bpf', 'build');
    if (existsSync(join(c, 'bpf_lxc.o'))) return c;
    dir = dirname(dir);
  }
  return '/usr/lib/cilium-ts/bpf';
}

/** cilium-agent: wires IPAM, the datapath, endpoints, Hubble and the REST API; start/stop explicit. */
export class Daemon {
  #ipam: HostScopeIpam | undefined;
  readonly store: StateStore;
  readonly datapath: Datapath;
  readonly startedAt = Date.now();
  #netlink: Netlink | undefined;
  #endpoints: EndpointManager | undefined;
  #observer: FlowObserver | undefined;
  #ring: RingBuffer | undefined;
  #api: ApiServer | undefined;
  #gcTimer: NodeJS.Timeout | undefined;
  #nodes: NodeManager | undefined;
  #nodesFile: RemoteNodesFile | undefined;
  #nodeAddress: NodeAddress | undefined;
  /** MTU of the underlay device, and of pod routes (less the VXLAN overhead in tunnel mode). */
  #deviceMtu = 1500;
  #routeMtu = 1500;
  /** cilium_vxlan ifindex in tunnel mode (0: native routing). */
  #tunnelIfindex = 0;
  readonly #controllers = new Map<string, ControllerStatus>();
  #k8s: K8sAgent | undefined;
  #health: HealthServer | undefined;
  #started = false;
  // ---- services / kube-proxy replacement ----
  #services: ServiceManager | undefined;
  #kpr: KprResolution | undefined;
  #socketLb: SocketLb | undefined;
  #hostLb: HostLb | undefined;

  constructor(
    readonly config: AgentConfig,
    private readonly log: Logger,
  ) {
    // Kubernetes mode learns the pod CIDR from its CiliumNode in start().
    if (config.podCidr !== undefined && !config.k8sMode) this.#ipam = new HostScopeIpam(config.podCidr);
    this.store = new StateStore(config.stateDir);
    this.datapath = new Datapath({ bpfDir: config.bpfDir ?? defaultBpfDir(), bpfRoot: config.bpfRoot, monitorAggregation: config.monitorAggregation, log });
  }

  /** Host-scope IPAM over this node's pod CIDR (in Kubernetes mode: once the CiliumNode has one). */
  get ipam(): HostScopeIpam {
    if (!this.#ipam) throw new AgentError('AGENT_NOT_STARTED', 'the pod CIDR of this node is not known yet', 'wait for the operator to allocate one (CiliumNode spec.ipam.podCIDRs)', 503);
    return this.#ipam;
  }

  /** Kubernetes mode (undefined otherwise). */
  get k8s(): K8sAgent | undefined {
    return this.#k8s;
  }

  /** Started, and in Kubernetes mode with synced caches: what GET /healthz on agent-health-port reports. */
  health(): { ok: boolean; msg: string; detail?: Record<string, unknown> } {
    if (!this.#started) return { ok: false, msg: this.#k8s ? `starting: ${this.#k8s.status().msg}` : 'starting' };
    const k = this.#k8s?.status();
    if (k && !k.synced) return { ok: false, msg: `Kubernetes caches not synced: ${k.msg}` };
    return {
      ok: true,
      msg: `agent ${this.config.nodeName} healthy`,
      detail: { 'node-name': this.config.nodeName, 'pod-cidr': this.#ipam?.cidr.text, 'endpoint-count': this.#endpoints?.records().length ?? 0, ...(k ? { kubernetes: k } : {}) },
    };
  }

  get endpoints(): EndpointManager {
    if (!this.#endpoints) throw new AgentError('AGENT_NOT_STARTED', 'agent not started', 'call start() first', 503);
    return this.#endpoints;
  }

  /** Remote nodes -> tunnel map / routes (Kubernetes mode feeds it from CiliumNodes). */
  get nodes(): NodeManager {
    if (!this.#nodes) throw new AgentError('AGENT_NOT_STARTED', 'agent not started', 'call start() first', 503);
    return this.#nodes;
  }

  /** Services -> LB maps (REST /v1/service and the Kubernetes watchers use it). Available after start(). */
  get services(): ServiceManager {
    if (!this.#services) throw new AgentError('AGENT_NOT_STARTED', 'agent not started', 'call start() first', 503);
    return this.#services;
  }

  /**
   * Services: decide the kube-proxy replacement features (may refuse the start), restore services from the
   * pinned maps, attach socket LB to --cgroup-root and bpf_host to --devices.
   */
  #startServices(netlink: Netlink): void {
    const { config, log } = this;
    const k = probeKernel();
    const lb = this.datapath.lb;
    const lbMaps = lb.services !== undefined && lb.backends !== undefined && lb.revNat !== undefined;
    const sockObject = joinPath(this.datapath.bpfDir, 'bpf_sock.o');
    const hostObject = joinPath(this.datapath.bpfDir, 'bpf_host.o');
    // --devices, else (as Cilium's device detection) the device holding the node's address.
    const detected = config.devices.length === 0 && this.#nodeAddress && existsSync(hostObject) ? [this.#nodeAddress.ifname] : [];
    const devices = (config.devices.length > 0 ? config.devices : detected).map((name) => ({ name, link: netlink.linkByName(name) }));
    if (detected.length > 0) log.info({ devices: detected }, 'devices detected (the node address\'s device; --devices overrides)');
    this.#kpr = resolveKubeProxyReplacement(config, {
      cgroupSockAddr: k.cgroupSockAddr,
      lruHash: k.lruHash,
      schedCls: k.schedCls,
      lbMaps,
      sockObject: existsSync(sockObject),
      hostObject: existsSync(hostObject),
      cgroupRootProblem: cgroupRootProblem(config.cgroupRoot),
      missingDevices: devices.filter((d) => !d.link).map((d) => d.name),
    });
    // what `cilium-dbg status` shows: the LB devices (or the node IP's device) with their addresses
    const ipsOf = (ifindex: number): string[] => netlink.addresses(ifindex).filter((a) => a.family === 4).map((a) => a.ip);
    const na = this.#nodeAddress;
    const shown = devices.flatMap((d) => (d.link ? [{ name: d.name, ip: ipsOf(d.link.index) }] : []));
    if (shown.length === 0 && na) shown.push({ name: na.ifname, ip: [na.ip] });
    this.#kpr.status.deviceList = shown;
    if (na) this.#kpr.status.directRoutingDevice = na.ifname;
    if (!lbMaps) log.warn({ object: this.datapath.objectPath }, 'the datapath object has no LB maps: services are accepted but not programmed');
    if (this.#kpr.lbMode !== config.bpfLbMode) log.warn({ bpfLbMode: config.bpfLbMode, routingMode: config.routingMode }, 'DSR needs native routing: NodePort uses SNAT');
    this.#services = new ServiceManager({
      maps: lb,
      nodeName: config.nodeName,
      algorithm: config.bpfLbAlgorithm,
      mode: this.#kpr.lbMode,
      kpr: this.#kpr.status,
      log,
      stateFile: joinPath(config.stateDir, 'services.json'),
      maglevSeed: maglevSeed(config.bpfLbMaglevHashSeed),
    });
    const restored = this.#services.restore();
    if (restored.services > 0) log.info(restored, 'services restored');
    const f = this.#kpr.features;
    if (f.nodePort) {
      // as Cilium (enable-auto-protect-node-port-range): NodePorts out of the node's ephemeral ports, in its netns only
      const [min, max] = parsePortRange(config.nodePortRange);
      const r = protectNodePortRange(min, max);
      if (r.reserved) log.info({ reserved: r.reserved, ephemeral: r.ephemeral.join('-') }, 'NodePort range added to net.ipv4.ip_local_reserved_ports');
      if (r.skipped) log.warn({ nodePortRange: `${min}-${max}`, ephemeral: r.ephemeral.join('-') }, `the NodePort range overlaps the ephemeral ports, not reserved: ${r.skipped}`);
    }
    if (f.socketLB) {
      this.#socketLb = new SocketLb({ objectPath: sockObject, pinDir: this.datapath.pinDir, cgroupRoot: config.cgroupRoot, rodata: this.datapath.rodata, log });
      this.#socketLb.attach();
    }
    if (f.nodePort && devices.length > 0) {
      this.#hostLb = new HostLb({ objectPath: hostObject, pinDir: this.datapath.pinDir, rodata: this.datapath.rodata });
      this.#hostLb.attach(devices.flatMap((d) => (d.link ? [{ name: d.name, ifindex: d.link.index }] : [])));
    }
    log.info({ mode: config.kubeProxyReplacement, features: f, cgroupRoot: f.socketLB ? config.cgroupRoot : undefined, devices: this.#hostLb?.devices }, 'kube-proxy replacement');
  }

  /** One controller per LB map reconciler (Cilium names them sync-lb-maps-*). */
  #serviceControllers(): Array<{ name: string; status: { 'success-count': number; 'failure-count': number; 'consecutive-failure-count': number; 'last-failure-msg'?: string; 'last-success-timestamp'?: string } }> {
    return (this.#services?.reconcilers() ?? []).map((r) => ({
      name: `sync-lb-maps-${r.name}`,
      status: {
        'success-count': r.successCount,
        'failure-count': r.failureCount,
        'consecutive-failure-count': r.consecutiveFailures,
        ...(r.lastError !== undefined ? { 'last-failure-msg': r.lastError } : {}),
        ...(r.lastSuccess !== undefined ? { 'last-success-timestamp': r.lastSuccess } : {}),
      },
    }));
  }

  #stopServices(): void {
    this.#services?.stop();
    if (this.config.bpfLbSockDetachOnShutdown) this.#socketLb?.detach();
    this.#socketLb?.close();
    this.#hostLb?.close();
  }

  get routeMtu(): number {
    return this.#routeMtu;
  }

  /** Node address, MTUs, and in tunnel mode the VXLAN device; returns its ifindex (0 in native mode). */
  #setupRouting(netlink: Netlink): number {
    const { config, log } = this;
    this.#nodeAddress ??= findNodeAddress(netlink, config.nodeIp);
    if (!this.#nodeAddress) {
      log.warn({}, 'no node IP: no --node-ip and no default route with an IPv4 address; pods can reach only this node (pass --node-ip to reach other nodes)');
    }
    this.#deviceMtu = this.#nodeAddress?.mtu ?? 1500;
    this.#routeMtu = config.routingMode === 'tunnel' ? this.#deviceMtu - VXLAN_OVERHEAD : this.#deviceMtu;
    if (config.routingMode === 'native') {
      // the node forwards between the underlay and the pods' veths
      writeFileSync('/proc/sys/net/ipv4/ip_forward', '1\n');
      return 0;
    }
    return ensureTunnelDevice(netlink, { name: config.tunnelDevice, port: config.tunnelPort, mtu: this.#routeMtu });
  }

  async start(): Promise<void> {
    const { config, log } = this;
    if (config.agentHealthPort > 0) {
      const health = new HealthServer('127.0.0.1', config.agentHealthPort, () => this.health());
      try {
        await health.listen();
        this.#health = health;
      } catch (e) {
        // Without Kubernetes nothing probes it; several test agents may share a network namespace.
        if (config.k8sMode) throw e;
        log.warn({ err: (e as Error).message }, 'health endpoint not served');
      }
    }
    const netlink = Netlink.open();
    this.#netlink = netlink;
    if (config.k8sMode) {
      const k8s = new K8sAgent({ config, log });
      this.#k8s = k8s;
      await k8s.connect();
      const internal = k8s.nodeInternalIp();
      const local = internal !== undefined && netlink.addresses().some((a) => a.family === 4 && a.ip === internal) ? internal : undefined;
      this.#nodeAddress = findNodeAddress(netlink, config.nodeIp ?? local);
      const stateCidr = this.store.load()?.podCidr;
      const cidr = await k8s.podCidr(this.#nodeAddress?.ip);
      if (stateCidr !== undefined && stateCidr !== cidr) {
        throw new AgentError('AGENT_POD_CIDR_CHANGED', `the state in ${config.stateDir} was made for pod CIDR ${stateCidr}, but CiliumNode ${config.nodeName} now gives ${cidr}`, `restore spec.ipam.podCIDRs of CiliumNode ${config.nodeName} to ${stateCidr}, or drain the node and remove ${this.store.path}`);
      }
      if (config.podCidr !== undefined && config.podCidr !== cidr) {
        throw new AgentError('AGENT_POD_CIDR_CHANGED', `--pod-cidr ${config.podCidr} differs from the CIDR of CiliumNode ${config.nodeName} (${cidr})`, 'drop --pod-cidr in Kubernetes mode');
      }
      this.#ipam = new HostScopeIpam(cidr);
    }
    const ipam = this.ipam;
    const state = this.store.load();
    if (state && state.podCidr !== ipam.cidr.text) {
      throw new AgentError('AGENT_POD_CIDR_CHANGED', `the state in ${config.stateDir} was made for pod CIDR ${state.podCidr}, not ${ipam.cidr.text}`, 'start with the original --pod-cidr, or remove the pods and the state dir');
    }
    for (const a of state?.ipam ?? []) ipam.allocate(a.ip, a.owner);

    ensureHostDevice(netlink, config.hostDevice, this.ipam.routerIp);
    const tunnelIfindex = this.#setupRouting(netlink);
    this.datapath.start({ tunnelIfindex, nodeIp: this.#nodeAddress?.ip, routerIp: this.ipam.routerIp, lbAlgorithm: config.bpfLbAlgorithm, nodePortMax: parsePortRange(config.nodePortRange)[1], tunnelPort: config.tunnelPort, fragmentTracking: config.enableIpv4FragmentTracking });
    this.#tunnelIfindex = tunnelIfindex;
    if (tunnelIfindex) this.datapath.attachOverlay(tunnelIfindex);
    if (config.enableIpv4Masquerade) {
      const exclude = config.ipv4NativeRoutingCidr ? [config.ipv4NativeRoutingCidr] : config.clusterPoolIpv4Cidr?.length ? config.clusterPoolIpv4Cidr : [this.ipam.cidr.text];
      installMasquerade({ podCidr: this.ipam.cidr.text, exclude });
      log.info({ podCidr: this.ipam.cidr.text, exclude }, 'masquerading pod traffic that leaves the cluster (iptables)');
    }
    this.#startServices(netlink);
    const k8s = this.#k8s;
    this.#endpoints = new EndpointManager({
      datapath: this.datapath,
      netlink,
      ipam: this.ipam,
      persist: () => this.persist(),
      log,
      ...(k8s ? { hooks: { labelsFor: (ns: string, pod: string) => k8s.labelsFor(ns, pod), onChange: (ev: 'upsert' | 'delete', rec: Parameters<K8sAgent['onEndpointChange']>[1]) => k8s.onEndpointChange(ev, rec) } } : {}),
    });
    const restored = this.#endpoints.restore(state?.endpoints ?? []);
    // An address without an endpoint at start-up belongs to an ADD or a DEL that the previous agent
    // did not see through (it died in between, or the plugin could not reach it): free it.
    const orphans = this.ipam.list().filter((a) => !this.#endpoints?.byIp(a.ip));
    for (const a of orphans) this.ipam.release(a.ip);
    if (orphans.length > 0) log.info({ released: orphans }, 'released addresses that no endpoint uses');
    this.persist();

    this.#nodes = new NodeManager({
      routingMode: config.routingMode,
      localNodeName: config.nodeName,
      localNodeIp: this.#nodeAddress?.ip,
      localPodCidrs: [this.ipam.cidr.text],
      netlink,
      tunnelMap: this.datapath.tunnel,
      routeMtu: this.#routeMtu,
      ...(this.#tunnelIfindex ? { tunnelRoutes: { ifindex: this.#tunnelIfindex, src: this.ipam.routerIp } } : {}),
      log,
    });
    const nodes = this.#nodes;
    if (k8s) {
      // CiliumNodes are the source of remote nodes (the first listing marks the NodeManager synced).
      // ... and Services / EndpointSlices / this node's hostPorts feed the ServiceManager (bulk, then deltas).
      await k8s.attach({ nodes, endpoints: this.#endpoints, services: this.#services });
    } else if (config.remoteNodesFile !== undefined) {
      this.#nodesFile = new RemoteNodesFile(config.remoteNodesFile, (list) => nodes.replaceAll(list), log);
      nodes.replaceAll(this.#nodesFile.start());
    } else {
      // No source of remote nodes (yet): a single node. Kubernetes mode marks it synced after its first listing.
      nodes.markSynced();
    }

    const endpoints = this.#endpoints;
    const info = (e: ReturnType<EndpointManager['byId']>) =>
      e && {
        id: e.id,
        identity: 0,
        labels: e.labels,
        ...(e.podName !== undefined ? { podName: e.podName } : {}),
        ...(e.namespace !== undefined ? { namespace: e.namespace } : {}),
      };
    this.#observer = new FlowObserver({
      nodeName: config.nodeName,
      capacity: config.hubbleCapacity,
      peers: new PeerNotifier({ localName: config.nodeName, localIp: this.#nodeAddress?.ip, listenAddress: config.hubbleListenAddress, clusterName: config.clusterName, nodes: () => nodes.list() }),
      resolver: { byId: (id) => info(endpoints.byId(id)), byIp: (ip) => info(endpoints.byIp(ip)) },
    });
    if (config.enableHubble) {
      await this.#observer.serve(config.hubbleSocketPath);
      if (config.hubbleListenAddress !== '') await this.#observer.serveTcp(config.hubbleListenAddress).catch((e: unknown) => log.error({ err: e instanceof Error ? e.message : String(e), hint: (e as { hint?: string }).hint }, 'hubble: no TCP listener (Relay cannot reach this node)'));
      const observer = this.#observer;
      this.#ring = new RingBuffer(this.datapath.events, (buf) => observer.onEvent(buf));
      this.#ring.start();
    } else {
      this.#observer = undefined;
    }

    this.#gcTimer = setInterval(() => this.runCtGc(), config.ctGcIntervalSeconds * 1000);
    this.#gcTimer.unref();

    this.#api = this.buildApi();
    await this.#api.listen();
    this.#started = true;
    log.info({ k8sMode: config.k8sMode, kubeProxyReplacement: config.kubeProxyReplacement, podCidr: this.ipam.cidr.text, router: this.ipam.routerIp, routingMode: config.routingMode, nodeIp: this.#nodeAddress?.ip, routeMtu: this.#routeMtu, remoteNodes: nodes.list().length, socket: config.socketPath, hubble: config.hubbleSocketPath, bpfRoot: config.bpfRoot, ...restored }, 'cilium-agent ready');
  }

  /** Stops serving. Programs stay attached and maps pinned, so pods keep talking while we are away. */
  async stop(): Promise<void> {
    if (this.#gcTimer) clearInterval(this.#gcTimer);
    this.#nodesFile?.stop();
    await this.#k8s?.stop();
    await this.#health?.close();
    await this.#api?.close();
    this.#ring?.stop();
    await this.#observer?.stop();
    this.#stopServices();
    this.datapath.close();
    this.#netlink?.close();
  }

  persist(): void {
    if (!this.#ipam) return;
    this.store.save({ version: 1, podCidr: this.#ipam.cidr.text, endpoints: this.#endpoints?.records() ?? [], ipam: this.ipam.list() });
  }

  runCtGc(): { scanned: number; deleted: number } {
    const st = this.#controller('ct-gc');
    try {
      const r = ctGc(this.datapath.ct);
      st.successCount++;
      st.consecutiveFailures = 0;
      st.lastSuccess = new Date().toISOString();
      if (r.deleted > 0) this.log.debug(r, 'conntrack garbage collected');
      return r;
    } catch (e) {
      st.failureCount++;
      st.consecutiveFailures++;
      st.lastFailure = e instanceof Error ? e.message : String(e);
      this.log.error({ err: st.lastFailure }, 'conntrack GC failed');
      return { scanned: 0, deleted: 0 };
    }
  }

  #controller(name: string): ControllerStatus {
    let c = this.#controllers.get(name);
    if (!c) this.#controllers.set(name, (c = { successCount: 0, failureCount: 0, consecutiveFailures: 0 }));
    return c;
  }

  status(): StatusResponse {
    const obs = this.#observer?.serverStatus();
    const k = this.#k8s?.status();
    return {
      cilium: { state: 'Ok', msg: `agent ${this.config.nodeName} healthy` },
      'kube-proxy-replacement': this.#services?.status() ?? { mode: this.config.kubeProxyReplacement },
      ...(k ? { kubernetes: { state: k.state, msg: k.msg, synced: k.synced, informers: k.informers, 'cilium-endpoints': k.ciliumEndpoints, 'cilium-node': k.ciliumNode } } : { kubernetes: { state: 'Disabled', msg: 'not in Kubernetes mode' } }),
      ipam: { ipv4: this.ipam.list().map((a) => a.ip), 'ipv4-allocated': this.ipam.allocated, 'ipv4-capacity': this.ipam.capacity, 'alloc-range': this.ipam.cidr.text },
      'bpf-maps': { maps: [] },
      controllers: [...this.#controllers].map(([name, c]) => ({
        name,
        status: {
          'success-count': c.successCount,
          'failure-count': c.failureCount,
          'consecutive-failure-count': c.consecutiveFailures,
          ...(c.lastFailure !== undefined ? { 'last-failure-msg': c.lastFailure } : {}),
          ...(c.lastSuccess !== undefined ? { 'last-success-timestamp': c.lastSuccess } : {}),
        },
      })).concat(this.#serviceControllers()),
      'endpoint-count': this.#endpoints?.records().length ?? 0,
      hubble: obs ? { state: 'Ok', observer: { 'current-flows': obs.numFlows, 'max-flows': obs.maxFlows, 'seen-flows': obs.seenFlows } } : { state: 'Disabled' },
      'node-name': this.config.nodeName,
      'uptime-seconds': Math.round((Date.now() - this.startedAt) / 1000),
      'datapath-mode': 'veth',
    };
  }

  configuration(): DaemonConfigurationResponse {
    const c = this.config;
    const addressing = { ip: this.ipam.routerIp, 'alloc-range': this.ipam.cidr.text, enabled: true };
    return {
      spec: { options: { MonitorAggregation: c.monitorAggregation } },
      status: {
        addressing: { ipv4: addressing },
        'daemon-config-map': { ...c, bpfDir: this.datapath.objectPath, ...(this.#nodeAddress ? { nodeIp: this.#nodeAddress.ip } : {}) },
        'state-dir': c.stateDir,
        'bpf-root': c.bpfRoot,
        'bpf-pin-dir': this.datapath.pinDir,
        'socket-path': c.socketPath,
        'hubble-socket-path': c.hubbleSocketPath,
        'host-device': c.hostDevice,
        'node-name': c.nodeName,
        'device-mtu': this.#deviceMtu,
        'route-mtu': this.#routeMtu,
      },
    };
  }

  /** The REST routes (packages/api/openapi.yaml documents each). */
  buildApi(): ApiServer {
    const api = new ApiServer(this.config.socketPath, this.log);
    const ipamError = (e: unknown): never => {
      if (e instanceof IpamError) throw new AgentError(e.code, e.message, e.hint, e.code === 'IPAM_NOT_FOUND' ? 404 : e.code === 'IPAM_EXHAUSTED' ? 502 : 409);
      throw e;
    };
    api
      .route('GET', '/v1/healthz', () => ({ status: 200, body: this.status() }))
      .route('GET', '/v1/config', () => ({ status: 200, body: this.configuration() }))
      .route('POST', '/v1/cni', cniHandler({ api, socketPath: this.config.socketPath, log: this.log }), { raw: true })
      .route('POST', '/v1/ipam', ({ query }) => {
        const family = query.get('family') ?? 'ipv4';
        if (family !== 'ipv4') throw new AgentError('IPAM_FAMILY_UNSUPPORTED', `address family ${family} is not enabled`, 'request family=ipv4', 400);
        let ip: string;
        try {
          ip = this.ipam.allocateNext(query.get('owner') ?? 'unknown');
        } catch (e) {
          return ipamError(e);
        }
        this.persist();
        const host = { ip: this.ipam.routerIp, 'alloc-range': this.ipam.cidr.text, enabled: true };
        const body: IpamResponse = { address: { ipv4: ip }, ipv4: { ip, gateway: this.ipam.routerIp, cidrs: [this.ipam.cidr.text] }, 'host-addressing': { ipv4: host } };
        return { status: 201, body };
      })
      .route('POST', '/v1/ipam/{ip}', ({ params, query }) => {
        try {
          this.ipam.allocate(params.ip ?? '', query.get('owner') ?? 'unknown');
        } catch (e) {
          return ipamError(e);
        }
        this.persist();
        return { status: 200 };
      })
      .route('DELETE', '/v1/ipam/{ip}', ({ params, query }) => {
        const ip = params.ip ?? '';
        const ep = this.endpoints.byIp(ip);
        if (ep) throw new AgentError('IPAM_IN_USE', `${ip} is used by endpoint ${ep.id}`, 'delete the endpoint first', 409);
        const owner = query.get('owner');
        const holder = this.ipam.owner(ip);
        if (owner !== null && holder !== undefined && holder !== owner) {
          throw new AgentError('IPAM_OWNER_MISMATCH', `${ip} is held by ${holder}, not ${owner}`, 'a stale release for an address that was handed out again; nothing to do', 409);
        }
        try {
          this.ipam.release(ip);
        } catch (e) {
          return ipamError(e);
        }
        this.persist();
        return { status: 200 };
      })
      .route('GET', '/v1/endpoint', () => ({ status: 200, body: this.endpoints.records().map((e) => this.endpoints.toApi(e)) }))
      .route('GET', '/v1/endpoint/{id}', ({ params }) => {
        const e = this.endpoints.find(params.id ?? '');
        if (!e) throw new AgentError('ENDPOINT_NOT_FOUND', `endpoint ${params.id} not found`, 'list endpoints with GET /v1/endpoint', 404);
        return { status: 200, body: this.endpoints.toApi(e) };
      })
      .route('PUT', '/v1/endpoint/{id}', ({ params, body }) => ({ status: 201, body: this.endpoints.toApi(this.endpoints.create(params.id ?? '', body)) }))
      .route('DELETE', '/v1/endpoint/{id}', ({ params }) => {
        const e = this.endpoints.delete(params.id ?? '');
        if (!e) throw new AgentError('ENDPOINT_NOT_FOUND', `endpoint ${params.id} not found`, 'nothing to delete', 404);
        return { status: 200 };
      });
    serviceRoutes(api, () => this.services);
    return api;
  }
}
