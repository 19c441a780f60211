// The JSON the UI shows for one flow: who talked to whom, on which port, with which verdict.
import { FlowType, TrafficDirection, Verdict, DropReason, type Endpoint, type Flow } from '@cilium-ts/api/hubble';

export interface EndpointView {
  /** namespace/pod, else the IP (or `world`/`host` style names from labels). */
  name: string;
  ip: string;
  namespace: string;
  pod: string;
  identity: number;
  labels: string[];
}

export interface FlowView {
  time: string;
  node: string;
  source: EndpointView;
  destination: EndpointView;
  protocol: string;
  sourcePort: number | undefined;
  destinationPort: number | undefined;
  tcpFlags: string;
  verdict: string;
  dropReason: string;
  type: string;
  direction: string;
  isReply: boolean | undefined;
}

function endpoint(ep: Endpoint | undefined, ip: string): EndpointView {
  const namespace = ep?.namespace ?? '';
  const pod = ep?.podName ?? '';
  const labels = ep?.labels ?? [];
  const reserved = labels.find((l) => l.startsWith('reserved:'));
  return {
    name: pod !== '' ? `${namespace}/${pod}` : reserved ? `${reserved.slice('reserved:'.length)} ${ip}`.trim() : ip || '?',
    ip,
    namespace,
    pod,
    identity: ep?.identity ?? 0,
    labels,
  };
}

export function flowView(f: Flow, nodeName: string): FlowView {
  const l4 = f.l4?.protocol;
  let protocol = '';
  let sourcePort: number | undefined;
  let destinationPort: number | undefined;
  let tcpFlags = '';
  switch (l4?.case) {
    case 'TCP':
      protocol = 'TCP';
      sourcePort = l4.value.sourcePort;
      destinationPort = l4.value.destinationPort;
      if (l4.value.flags) {
        const fl = l4.value.flags;
        tcpFlags = (['SYN', 'ACK', 'FIN', 'RST', 'PSH', 'URG'] as const).filter((k) => fl[k]).join(',');
      }
      break;
    case 'UDP':
      protocol = 'UDP';
      sourcePort = l4.value.sourcePort;
      destinationPort = l4.value.destinationPort;
      break;
    case 'ICMPv4':
      protocol = 'ICMPv4';
      break;
    case 'ICMPv6':
      protocol = 'ICMPv6';
      break;
    case 'SCTP':
      protocol = 'SCTP';
      sourcePort = l4.value.sourcePort;
      destinationPort = l4.value.destinationPort;
      break;
    default:
      break;
  }
  const t = f.time;
  return {
    time: t ? new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)).toISOString() : '',
    node: f.nodeName || nodeName,
    source: endpoint(f.source, f.IP?.source ?? ''),
    destination: endpoint(f.destination, f.IP?.destination ?? ''),
    protocol,
    sourcePort,
    destinationPort,
    tcpFlags,
    verdict: Verdict[f.verdict] ?? String(f.verdict),
    dropReason: f.dropReasonDesc !== DropReason.DROP_REASON_UNKNOWN ? (DropReason[f.dropReasonDesc] ?? String(f.dropReasonDesc)) : '',
    type: FlowType[f.Type] ?? String(f.Type),
    direction: TrafficDirection[f.trafficDirection] ?? '',
    isReply: f.isReply,
  };
}
