/**
 * The Node object of a lab node as a kubelet keeps it: registration (labels, addresses), status
 * (conditions, capacity/allocatable, nodeInfo) and the heartbeat Lease in kube-node-lease. Ready follows
 * the container runtime's network readiness exactly as containerd reports it to a kubelet: NotReady with
 * "NetworkPluginNotReady ... cni plugin not initialized" while the CNI conf dir has no network config.
 */
import { cpus, release, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';

export interface NodeInput {
  name: string;
  nodeIp: string;
  kubeletVersion: string;
  /** undefined = network ready; else the runtime's NetworkReady=false message. */
  networkError: string | undefined;
}

export function nodeObject(n: NodeInput): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: {
        'kubernetes.io/hostname': n.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': arch(),
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': arch(),
      },
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
    },
    spec: {},
  };
}

function arch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

export function nodeCapacity(): { cpu: string; memory: string; pods: string; 'ephemeral-storage': string } {
  return { cpu: String(cpus().length), memory: `${Math.floor(totalmem() / 1024)}Ki`, pods: '110', 'ephemeral-storage': '20Gi' };
}

function osImage(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

function readId(p: string): string {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The message containerd's CRI status gives the kubelet when no CNI config is loaded. */
export function networkNotReadyMessage(error: string | undefined): string {
  return `container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: ${error ?? 'cni plugin not initialized'}`;
}

export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastHeartbeatTime: string;
  lastTransitionTime: string;
}

export function nodeConditions(n: NodeInput, previous: NodeCondition[] | undefined, now: string): NodeCondition[] {
  const mk = (type: string, status: 'True' | 'False', reason: string, message: string): NodeCondition => {
    const old = previous?.find((c) => c.type === type);
    return { type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now };
  };
  return [
    mk('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
    mk('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
    mk('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    n.networkError === undefined && n.networkError !== null
      ? mk('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status')
      : mk('Ready', 'False', 'KubeletNotReady', networkNotReadyMessage(n.networkError)),
  ];
}

export function nodeStatus(n: NodeInput, previous: NodeCondition[] | undefined, now: string): Record<string, unknown> {
  const cap = nodeCapacity();
  return {
    conditions: nodeConditions(n, previous, now),
    addresses: [
      { type: 'InternalIP', address: n.nodeIp },
      { type: 'Hostname', address: n.name },
    ],
    capacity: cap,
    allocatable: cap,
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: {
      machineID: readId('/etc/machine-id'),
      systemUUID: readId('/sys/class/dmi/id/product_uuid') || readId('/etc/machine-id'),
      bootID: readId('/proc/sys/kernel/random/boot_id'),
      kernelVersion: release(),
      osImage: osImage(),
      containerRuntimeVersion: 'cilium-lab://0.1.0',
      kubeletVersion: n.kubeletVersion,
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: arch(),
    },
  };
}

/** MicroTime as the API wants it for Lease renewTime. */
export function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function leaseObject(node: string, nodeUid: string, now: string): Record<string, unknown> {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: node, namespace: 'kube-node-lease', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid: nodeUid }] },
    spec: { holderIdentity: node, leaseDurationSeconds: 40, renewTime: now },
  };
}
