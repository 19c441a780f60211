// `cilium-dbg service list`, `cilium-dbg bpf lb list` and the KubeProxyReplacement lines of `cilium-dbg status`,
// laid out as Cilium prints them (Go text/tabwriter: minwidth 5, padding 3).
import {
  SVC_F_AFFINITY,
  SVC_F_CLUSTERIP,
  SVC_F_EXTERNALIP,
  SVC_F_EXT_LOCAL,
  SVC_F_HOSTPORT,
  SVC_F_INT_LOCAL,
  SVC_F_LOADBALANCER,
  SVC_F_NODEPORT,
  LB_LOOKUP_SCOPE_INT,
  type KubeProxyReplacementStatus,
  type Lb4Backend,
  type Lb4Key,
  type Lb4Service,
  type Service,
} from '@cilium-ts/api';
import { TabWriter } from '../hubble/tab-writer.js';

function tab(lines: string[]): string {
  let s = '';
  const w = new TabWriter((x) => (s += x), 5, 3);
  for (const l of lines) w.write(`${l}\n`);
  w.flush();
  return s;
}

/** `ID  Frontend  Service Type  Backend`, one line per backend: `1 => 10.0.0.1:80 (active)`. */
export function serviceListText(list: Service[]): string {
  const lines = ['ID\tFrontend\tService Type\tBackend\t'];
  for (const svc of [...list].sort((a, b) => (a.status.realized.id ?? 0) - (b.status.realized.id ?? 0))) {
    const r = svc.status.realized;
    const fe = r['frontend-address'];
    const bes = r['backend-addresses'].map((b, i) => `${i + 1} => ${b.ip}:${b.port} (${b.state ?? 'active'})`);
    lines.push(`${r.id ?? 0}\t${fe.ip}:${fe.port}\t${svc.spec.flags.type}\t${bes[0] ?? ''}\t`);
    for (const b of bes.slice(1)) lines.push(`\t\t\t${b}\t`);
  }
  return tab(lines);
}

/** Cilium's ServiceFlags.String(): the type, then Local / InternalLocal / sessionAffinity / non-routable. */
export function serviceFlagsText(flags: number): string {
  const type =
    flags & SVC_F_NODEPORT ? 'NodePort' : flags & SVC_F_EXTERNALIP ? 'ExternalIPs' : flags & SVC_F_LOADBALANCER ? 'LoadBalancer' : flags & SVC_F_HOSTPORT ? 'HostPort' : flags & SVC_F_CLUSTERIP ? 'ClusterIP' : 'ClusterIP';
  const out = [type];
  if (flags & SVC_F_EXT_LOCAL) out.push('Local');
  if (flags & SVC_F_INT_LOCAL) out.push('InternalLocal');
  if (flags & SVC_F_AFFINITY) out.push('sessionAffinity');
  // ClusterIPs and the NodePort wildcard are not reachable from outside the cluster
  if (type === 'ClusterIP' || type === 'NodePort') out.push('non-routable');
  return out.join(', ');
}

const PROTO: Record<number, string> = { 6: 'TCP', 17: 'UDP' };

/** `SERVICE ADDRESS  BACKEND ADDRESS (REVNAT_ID) (SLOT)` from the services and backends maps. */
export function bpfLbListText(services: Array<[Lb4Key, Lb4Service]>, backends: Map<number, Lb4Backend>): string {
  const groups = new Map<string, Array<[number, string]>>();
  for (const [k, v] of services) {
    const key = `${k.address}:${k.dport}/${PROTO[k.proto] ?? k.proto}${k.scope === LB_LOOKUP_SCOPE_INT ? '/i' : ''}`;
    let entry: string;
    if (k.backendSlot === 0) entry = `0.0.0.0:0 (${v.revNatIndex}) (0) [${serviceFlagsText(v.flags)}]`;
    else {
      const b = backends.get(v.backendId);
      entry = b ? `${b.address}:${b.port} (${v.revNatIndex}) (${k.backendSlot})` : `backend ${v.backendId} not found`;
    }
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push([k.backendSlot, entry]);
  }
  const lines = ['SERVICE ADDRESS\tBACKEND ADDRESS (REVNAT_ID) (SLOT)\t'];
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key)!.sort((a, b) => a[0] - b[0]);
    g.forEach(([, e], i) => lines.push(`${i === 0 ? key : ''}\t${e}\t`));
  }
  return tab(lines);
}

const cap = (s: string): string => (s ? s[0]!.toUpperCase() + s.slice(1) : s);
const onOff = (b: boolean | undefined): string => (b ? 'Enabled' : 'Disabled');

function isFull(k: KubeProxyReplacementStatus | { mode: string }): k is KubeProxyReplacementStatus {
  return 'features' in k;
}

/**
 * `KubeProxyReplacement:   True   [eth0 10.0.0.1 (Direct Routing)]` (as Cilium's status line), then, when any
 * replacement is on, Cilium's "KubeProxyReplacement Details" block with the enabled features.
 */
export function kprStatusText(k: KubeProxyReplacementStatus | { mode: string } | undefined, pad = 26): string {
  if (!k) return `${'KubeProxyReplacement:'.padEnd(pad)}Disabled\n`;
  const mode = cap(k.mode);
  if (!isFull(k)) return `${'KubeProxyReplacement:'.padEnd(pad)}${mode}\n`;
  const devs = (k.deviceList ?? []).map((d) => `${d.name} ${d.ip.join(' ')}${d.name === k.directRoutingDevice ? ' (Direct Routing)' : ''}`.replace(/\s+/g, ' ').trim());
  let s = `${'KubeProxyReplacement:'.padEnd(pad)}${mode}${devs.length > 0 ? `   [${devs.join(', ')}]` : ''}\n`;
  const f = k.features;
  const on = f.nodePort.enabled || f.hostPort.enabled || f.externalIPs.enabled || f.hostReachableServices.enabled || (f.socketLB?.enabled ?? false);
  if (!on) return s;
  const rows: Array<[string, string]> = [
    ['Status:', mode],
    ['Socket LB:', onOff(f.socketLB?.enabled ?? f.hostReachableServices.enabled)],
    ['Protocols:', f.hostReachableServices.enabled ? (f.hostReachableServices.protocols ?? ['TCP', 'UDP']).join(', ') : 'TCP, UDP'],
    ['Devices:', devs.join(', ') || '(none)'],
    ['Mode:', f.nodePort.mode ?? 'SNAT'],
    ['Backend Selection:', f.nodePort.algorithm ?? 'Random'],
    ['Session Affinity:', onOff(f.sessionAffinity.enabled)],
    ['Graceful Termination:', 'Enabled'],
    ['XDP Acceleration:', 'Disabled'],
  ];
  s += 'KubeProxyReplacement Details:\n';
  for (const [a, b] of rows) s += `  ${a.padEnd(24)}${b}\n`;
  s += '  Services:\n';
  const svc: Array<[string, string]> = [
    ['ClusterIP:', 'Enabled'],
    ['NodePort:', f.nodePort.enabled ? `Enabled (Range: ${f.nodePort.portMin ?? 30000}-${f.nodePort.portMax ?? 32767})` : 'Disabled'],
    ['LoadBalancer:', onOff(f.nodePort.enabled)],
    ['externalIPs:', onOff(f.externalIPs.enabled)],
    ['HostPort:', onOff(f.hostPort.enabled)],
  ];
  for (const [a, b] of svc) s += `  - ${a.padEnd(16)}${b}\n`;
  for (const m of k.messages ?? []) s += `  Note: ${m}\n`;
  return s;
}
