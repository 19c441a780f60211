// kube-proxy-replacement: which service features the agent turns on, from the mode (Cilium 1.14+
// true|false, 1.10 disabled|probe|partial|strict), the sub-feature flags and what this kernel and
// datapath can do.
//   false/disabled: ClusterIP for pods only (per-packet LB in bpf_lxc, as Cilium always does).
//   true/strict:    every feature; a missing kernel/datapath feature refuses the start, naming it
//                   (true: an unusable --cgroup-root only turns socket LB off, with a message).
//   probe:          every feature the kernel and datapath have; the rest off, reported in messages.
//   partial:        only enable-node-port, enable-host-port, enable-external-ips,
//                   enable-host-reachable-services (bpf-lb-sock); one that cannot work refuses the start.
// bpf-lb-mode dsr|hybrid (DSR for NodePort to remote backends) needs native routing, as in Cilium 1.10: in
// tunnel mode strict refuses to start (KPR_DSR_NEEDS_NATIVE_ROUTING), the other modes use SNAT and say so.
import type { KubeProxyReplacementStatus } from '@cilium-ts/api';
import type { AgentConfig } from '../config.js';
import { AgentError } from '../errors.js';

export interface KprCapabilities {
  /** cgroup sock_addr programs (connect4 & co). */
  cgroupSockAddr: boolean;
  lruHash: boolean;
  schedCls: boolean;
  /** The datapath object declares the LB maps. */
  lbMaps: boolean;
  /** bpf_sock.o exists. */
  sockObject: boolean;
  /** bpf_host.o exists. */
  hostObject: boolean;
  /** Why --cgroup-root cannot take the socket LB (undefined: it can). */
  cgroupRootProblem: string | undefined;
  /** --devices that do not exist in the agent's netns. */
  missingDevices: string[];
}

export interface KprFeatures {
  nodePort: boolean;
  hostPort: boolean;
  externalIPs: boolean;
  socketLB: boolean;
  sessionAffinity: boolean;
}

export interface KprResolution {
  features: KprFeatures;
  /** The NodePort mode in effect (dsr/hybrid fall back to snat in tunnel mode). */
  lbMode: 'snat' | 'dsr' | 'hybrid';
  status: KubeProxyReplacementStatus;
}

type KprConfig = Pick<
  AgentConfig,
  'kubeProxyReplacement' | 'enableNodePort' | 'enableHostPort' | 'enableExternalIps' | 'enableHostReachableServices' | 'bpfLbSock' | 'enableSessionAffinity' | 'bpfLbAlgorithm' | 'bpfLbMode' | 'nodePortRange' | 'devices' | 'routingMode'
>;

export function parsePortRange(r: string): [number, number] {
  const [a, b] = r.split(/[-,]/).map(Number);
  return [a ?? 30000, b ?? 32767];
}

/** Decides the features; throws AgentError KPR_FEATURE_MISSING (naming each) where the mode demands it. */
export function resolveKubeProxyReplacement(c: KprConfig, cap: KprCapabilities): KprResolution {
  const mode = c.kubeProxyReplacement;
  const all = mode === 'true' || mode === 'strict' || mode === 'probe';
  const off = mode === 'false' || mode === 'disabled';
  const sock = c.bpfLbSock ?? c.enableHostReachableServices;
  const want: KprFeatures = {
    nodePort: off ? false : all ? (c.enableNodePort ?? true) : (c.enableNodePort ?? false),
    hostPort: off ? false : all ? (c.enableHostPort ?? true) : (c.enableHostPort ?? false),
    externalIPs: off ? false : all ? (c.enableExternalIps ?? true) : (c.enableExternalIps ?? false),
    socketLB: off ? false : all ? (sock ?? true) : (sock ?? false),
    sessionAffinity: c.enableSessionAffinity ?? true,
  };
  const missing: Partial<Record<keyof KprFeatures, string[]>> = {};
  const need = (f: keyof KprFeatures, ok: boolean, what: string): void => {
    if (!want[f] || ok) return;
    (missing[f] ??= []).push(what);
  };
  need('nodePort', cap.lbMaps, 'the LB maps in bpf_lxc.o (cilium_lb4_*)');
  need('nodePort', cap.schedCls, 'tc BPF programs (sched_cls)');
  // bpf_host.o only serves --devices; without devices NodePort works for the node's own and its pods' traffic
  need('nodePort', cap.hostObject || c.devices.length === 0, 'bpf_host.o (for --devices)');
  need('nodePort', cap.missingDevices.length === 0, `devices ${cap.missingDevices.join(', ')}`);
  need('externalIPs', cap.lbMaps, 'the LB maps in bpf_lxc.o (cilium_lb4_*)');
  need('hostPort', want.nodePort, 'NodePort (enable-node-port)');
  need('socketLB', cap.cgroupSockAddr, 'cgroup sock_addr programs (connect4/sendmsg4/recvmsg4/getpeername4)');
  need('socketLB', cap.sockObject, 'bpf_sock.o');
  need('socketLB', cap.lbMaps, 'the LB maps in bpf_lxc.o (cilium_lb4_*)');
  need('sessionAffinity', cap.lruHash, 'LRU hash maps');
  const cgroupProblem = want.socketLB && cap.cgroupRootProblem !== undefined ? cap.cgroupRootProblem : undefined;
  const messages: string[] = [];
  const enforce = mode === 'strict' || mode === 'true' || mode === 'partial';
  const missingText = Object.entries(missing).map(([f, w]) => `${f} needs ${w.join(', ')}`);
  if (enforce && (missingText.length > 0 || (cgroupProblem && mode !== 'true'))) {
    const all = [...missingText, ...(cgroupProblem && mode !== 'true' ? [`socketLB needs a usable --cgroup-root: ${cgroupProblem}`] : [])];
    throw new AgentError(
      'KPR_FEATURE_MISSING',
      `kube-proxy-replacement=${mode}: ${all.join('; ')}`,
      mode === 'partial' ? 'turn the feature off, or fix what it needs' : 'use kube-proxy-replacement=probe to run with what this node has, or fix what is missing',
    );
  }
  const features = { ...want };
  for (const [f, w] of Object.entries(missing)) {
    features[f as keyof KprFeatures] = false;
    messages.push(`${f} disabled: needs ${w.join(', ')}`);
  }
  if (features.hostPort && !features.nodePort) {
    features.hostPort = false;
    messages.push('hostPort disabled: needs NodePort');
  }
  if (cgroupProblem) {
    features.socketLB = false;
    messages.push(`socketLB disabled: ${cgroupProblem} (pass --cgroup-root)`);
  }
  let lbMode = c.bpfLbMode;
  if (lbMode !== 'snat' && features.nodePort && c.routingMode === 'tunnel') {
    if (mode === 'strict') {
      throw new AgentError(
        'KPR_DSR_NEEDS_NATIVE_ROUTING',
        `kube-proxy-replacement=strict: bpf-lb-mode=${lbMode} needs native routing, but routing-mode is tunnel (as in Cilium 1.10, DSR carries the frontend in an IPv4 option to the backend's node, which the tunnel does not)`,
        'use --routing-mode native (routingMode=native), or --bpf-lb-mode snat',
      );
    }
    messages.push(`DSR disabled: bpf-lb-mode=${lbMode} needs routing-mode native (tunnel in use); NodePort uses SNAT`);
    lbMode = 'snat';
  }
  const [portMin, portMax] = parsePortRange(c.nodePortRange);
  const status: KubeProxyReplacementStatus = {
    mode,
    devices: c.devices,
    features: {
      nodePort: { enabled: features.nodePort, ...(features.nodePort ? { mode: lbMode === 'dsr' ? 'DSR' : lbMode === 'hybrid' ? 'Hybrid' : 'SNAT', algorithm: c.bpfLbAlgorithm === 'maglev' ? 'Maglev' : 'Random', portMin, portMax } : {}) },
      hostPort: { enabled: features.hostPort },
      externalIPs: { enabled: features.externalIPs },
      hostReachableServices: { enabled: features.socketLB, ...(features.socketLB ? { protocols: ['TCP', 'UDP'] } : {}) },
      sessionAffinity: { enabled: features.sessionAffinity },
      socketLB: { enabled: features.socketLB },
    },
    ...(messages.length > 0 ? { messages } : {}),
  };
  return { features, lbMode, status };
}
