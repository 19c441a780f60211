// Kubernetes Services + EndpointSlices (and pods' hostPorts) -> the agent's ServiceSpecs (Cilium's /service
// model), one spec per frontend. Pure functions: no client, no clock; the ServiceWatcher feeds them.
//
//  - ClusterIP: every IPv4 entry of spec.clusterIPs (or spec.clusterIP) x every port (TCP/UDP; SCTP skipped).
//  - NodePort (type NodePort or LoadBalancer, port.nodePort set): this node's addresses and the 0.0.0.0
//    wildcard x nodePort, plus the ClusterIP frontends.
//  - ExternalIPs: spec.externalIPs (IPv4) x port, on any Service type that has a cluster IP.
//  - LoadBalancer: status.loadBalancer.ingress[].ip x port, plus NodePort and ClusterIP.
//  - HostPort: pods' containers[].ports[].hostPort: this node's addresses (or the port's hostIP) and 0.0.0.0
//    x hostPort -> podIP:containerPort.
//  - headless (clusterIP None) and ExternalName Services give nothing.
// Backends come from the Service's EndpointSlices (label kubernetes.io/service-name, addressType IPv4): ready
// (or unknown) -> 'active'; not ready but serving and terminating -> 'terminating' (keeps its connections,
// gets no new ones); anything else is left out. A Service port is matched to the slice port of the same name,
// whose number is the (possibly named) target port already resolved per pod by the EndpointSlice controller.
import type { BackendAddress, FrontendAddress, L4Protocol, ServiceSpec, ServiceSpecFlags, ServiceType } from '@cilium-ts/api';
import type { EndpointSlice, Pod, Service } from '@cilium-ts/k8s';

/** Which frontends to build (from the kube-proxy-replacement features); ClusterIP is always built. */
export interface ServiceFeatures {
  nodePort: boolean;
  externalIPs: boolean;
  /** LoadBalancer ingress IPs (Cilium serves them with NodePort on). */
  loadBalancer: boolean;
  hostPort: boolean;
}

export const ALL_SERVICE_FEATURES: ServiceFeatures = { nodePort: true, externalIPs: true, loadBalancer: true, hostPort: true };

/** This node: its name (backends' nodeName is compared with it) and its IPv4 addresses (NodePort/HostPort). */
export interface LocalNodeInfo {
  name: string;
  ips: string[];
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const DEFAULT_AFFINITY_TIMEOUT = 10800;
export const NODEPORT_WILDCARD = '0.0.0.0';

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
export function isIpv4(s: string | undefined): s is string {
  const m = s === undefined ? null : IPV4.exec(s);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

function protocolOf(p: string | undefined): L4Protocol | undefined {
  const v = (p ?? 'TCP').toUpperCase();
  return v === 'TCP' || v === 'UDP' ? v : undefined;
}

/** "namespace/name": the key of a Service, and of the EndpointSlices that belong to it. */
export function serviceKey(svc: { metadata?: { namespace?: string; name?: string } }): string {
  return `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
}

/** The Service an EndpointSlice belongs to ("namespace/name"), or undefined (not a Service's slice). */
export function sliceServiceKey(s: EndpointSlice): string | undefined {
  const name = s.metadata?.labels?.[SERVICE_NAME_LABEL];
  return name ? `${s.metadata?.namespace ?? ''}/${name}` : undefined;
}

/** A stable key of a frontend (what the manager keys services by). */
export function frontendKey(fe: FrontendAddress): string {
  return `${fe.ip}:${fe.port}/${fe.protocol}${fe.scope === 'internal' ? '/i' : ''}`;
}

/** Backends of one Service port (by name) from the Service's slices, deduplicated by address (active wins). */
export function backendsFor(slices: EndpointSlice[], portName: string, protocol: L4Protocol): BackendAddress[] {
  const byAddr = new Map<string, BackendAddress>();
  for (const sl of slices) {
    if (sl.addressType !== 'IPv4') continue;
    const sp = (sl.ports ?? []).find((p) => (p.name ?? '') === portName && protocolOf(p.protocol) === protocol);
    if (sp?.port === undefined || sp.port === null) continue;
    for (const ep of sl.endpoints ?? []) {
      const c = ep.conditions ?? {};
      const terminating = c.terminating === true;
      // nil ready/serving mean "unknown": consumers treat that as ready (API docs of EndpointConditions).
      const ready = c.ready ?? !terminating;
      const serving = c.serving ?? ready;
      let state: 'active' | 'terminating';
      if (ready && !terminating) state = 'active';
      else if (serving && terminating) state = 'terminating';
      else continue;
      for (const ip of ep.addresses ?? []) {
        if (!isIpv4(ip)) continue;
        const k = `${ip}:${sp.port}`;
        const prev = byAddr.get(k);
        if (prev && prev.state === 'active') continue;
        const be: BackendAddress = { ip, port: sp.port, protocol, state };
        if (ep.nodeName) be.nodeName = ep.nodeName;
        byAddr.set(k, be);
      }
    }
  }
  return [...byAddr.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : ipNum(a.ip) - ipNum(b.ip)));
}

function ipNum(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

/** The frontends and backends of one Service. Headless and ExternalName Services give []. */
export function translateService(svc: Service, slices: EndpointSlice[], node: LocalNodeInfo, features: ServiceFeatures = ALL_SERVICE_FEATURES): ServiceSpec[] {
  const spec = svc.spec;
  if (!spec || spec.type === 'ExternalName') return [];
  const clusterIps = (spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : [spec.clusterIP ?? '']).filter(isIpv4);
  if (spec.clusterIP === 'None' || clusterIps.length === 0) return []; // headless (or not yet allocated)
  const type = spec.type ?? 'ClusterIP';
  const base: Omit<ServiceSpecFlags, 'type'> = {};
  if (svc.metadata?.name) base.name = svc.metadata.name;
  if (svc.metadata?.namespace) base.namespace = svc.metadata.namespace;
  if (type === 'NodePort' || type === 'LoadBalancer') base.extTrafficPolicy = spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster';
  if (spec.internalTrafficPolicy === 'Local') base.intTrafficPolicy = 'Local';
  if (spec.sessionAffinity === 'ClientIP') {
    base.sessionAffinity = true;
    base.sessionAffinityTimeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT;
  }
  // ExternalIPs and LoadBalancer ingress are reached from outside: externalTrafficPolicy applies to them too.
  if (base.extTrafficPolicy === undefined && (spec.externalIPs ?? []).length > 0) base.extTrafficPolicy = spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster';
  const out = new Map<string, ServiceSpec>();
  const add = (t: ServiceType, fe: FrontendAddress, backends: BackendAddress[]): void => {
    const k = frontendKey(fe);
    if (out.has(k)) return;
    out.set(k, { 'frontend-address': fe, 'backend-addresses': backends.map((b) => ({ ...b })), flags: { type: t, ...base } });
  };
  const nodeIps = [...new Set(node.ips.filter(isIpv4))];
  const lbIps = type === 'LoadBalancer' ? [...new Set((svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter(isIpv4))] : [];
  const extIps = [...new Set((spec.externalIPs ?? []).filter(isIpv4))];
  for (const p of spec.ports ?? []) {
    const protocol = protocolOf(p.protocol);
    if (protocol === undefined) continue;
    const backends = backendsFor(slices, p.name ?? '', protocol);
    for (const ip of clusterIps) add('ClusterIP', { ip, port: p.port, protocol }, backends);
    const np = p.nodePort;
    if (features.nodePort && (type === 'NodePort' || type === 'LoadBalancer') && np !== undefined && np > 0) {
      for (const ip of [...nodeIps, NODEPORT_WILDCARD]) add('NodePort', { ip, port: np, protocol }, backends);
    }
    if (features.externalIPs) for (const ip of extIps) add('ExternalIPs', { ip, port: p.port, protocol }, backends);
    if (features.loadBalancer) for (const ip of lbIps) add('LoadBalancer', { ip, port: p.port, protocol }, backends);
  }
  return [...out.values()];
}

/** HostPort frontends of one pod on this node (running, with an IPv4 pod IP, not hostNetwork). */
export function translateHostPorts(pod: Pod, node: LocalNodeInfo, features: ServiceFeatures = ALL_SERVICE_FEATURES): ServiceSpec[] {
  if (!features.hostPort) return [];
  if (pod.spec?.hostNetwork === true || pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null) return [];
  if (pod.spec?.nodeName !== node.name) return [];
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return [];
  const podIp = [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((x) => x.ip)].find(isIpv4);
  if (podIp === undefined) return [];
  const nodeIps = [...new Set(node.ips.filter(isIpv4))];
  const out = new Map<string, ServiceSpec>();
  for (const c of [...(pod.spec?.initContainers ?? []).filter((x) => x.restartPolicy === 'Always'), ...(pod.spec?.containers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (p.hostPort === undefined || p.hostPort <= 0) continue;
      const protocol = protocolOf(p.protocol);
      if (protocol === undefined) continue;
      const hostIp = p.hostIP && p.hostIP !== '' && p.hostIP !== NODEPORT_WILDCARD ? p.hostIP : undefined;
      if (hostIp !== undefined && (!isIpv4(hostIp) || hostIp.startsWith('127.'))) continue;
      const feIps = hostIp !== undefined ? [hostIp] : [...nodeIps, NODEPORT_WILDCARD];
      const be: BackendAddress = { ip: podIp, port: p.containerPort, protocol, state: 'active', nodeName: node.name };
      for (const ip of feIps) {
        const fe: FrontendAddress = { ip, port: p.hostPort, protocol };
        const k = frontendKey(fe);
        if (out.has(k)) continue;
        const flags: ServiceSpecFlags = { type: 'HostPort' };
        if (pod.metadata?.name) flags.name = pod.metadata.name;
        if (pod.metadata?.namespace) flags.namespace = pod.metadata.namespace;
        out.set(k, { 'frontend-address': fe, 'backend-addresses': [{ ...be }], flags });
      }
    }
  }
  return [...out.values()];
}

/** This node's IPv4 addresses from its Node object (InternalIP, ExternalIP) and --node-ip, deduplicated. */
export function nodeAddresses(node: { status?: { addresses?: { type: string; address: string }[] } } | undefined, nodeIp: string | undefined): string[] {
  const ips: string[] = [];
  if (isIpv4(nodeIp)) ips.push(nodeIp);
  for (const a of node?.status?.addresses ?? []) if ((a.type === 'InternalIP' || a.type === 'ExternalIP') && isIpv4(a.address)) ips.push(a.address);
  return [...new Set(ips)];
}

/** A canonical JSON of a spec (to skip upserts that would change nothing). */
export function specFingerprint(s: ServiceSpec): string {
  const fe = s['frontend-address'];
  const f = s.flags;
  return JSON.stringify([
    fe.ip, fe.port, fe.protocol, fe.scope ?? 'external',
    f.type, f.name ?? '', f.namespace ?? '', f.extTrafficPolicy ?? '', f.intTrafficPolicy ?? '', f.sessionAffinity ?? false, f.sessionAffinityTimeout ?? 0,
    s['backend-addresses'].map((b) => [b.ip, b.port, b.protocol ?? '', b.state ?? 'active', b.nodeName ?? '']),
  ]);
}
