// Decodes `struct flow_event` (bpf/lib/common.h, 48 bytes) into a Hubble `flow.Flow`, the way Hubble's
// threefour parser turns Cilium's trace/drop notifications into flows.
import { create } from '@bufbuild/protobuf';
import {
  CiliumEventTypeSchema,
  DropReason,
  EndpointSchema,
  FlowSchema,
  FlowType,
  ICMPv4Schema,
  IPSchema,
  IPVersion,
  Layer4Schema,
  NetworkInterfaceSchema,
  TCPFlagsSchema,
  TCPSchema,
  TraceObservationPoint,
  TraceReason,
  TrafficDirection,
  UDPSchema,
  Verdict,
  type Endpoint,
  type Flow,
  type Layer4,
  type TCPFlags,
} from '@cilium-ts/api/hubble';
import type { EndpointInfo, EndpointResolver } from './endpoint-resolver.js';
import { HubbleError } from './hubble-error.js';

/** sizeof(struct flow_event) */
export const FLOW_EVENT_SIZE = 48;

// struct flow_event field offsets (x86-64/arm64 layout, no implicit padding: see common.h)
const OFF = {
  type: 0,
  subtype: 1,
  ctState: 2,
  l4Proto: 3,
  srcEp: 4,
  dstEp: 6,
  ifindex: 8,
  saddr: 12,
  daddr: 16,
  sport: 20,
  dport: 22,
  tcpFlags: 24,
  icmpType: 25,
  icmpCode: 26,
  dir: 27,
  len: 28,
  srcSecId: 32,
  dstSecId: 36,
  ktime: 40,
} as const;

export const EVENT_DROP = 1;
export const EVENT_TRACE = 4;

const EV_CT_NONE = 0;
const EV_CT_NEW = 1;
const EV_CT_ESTABLISHED = 2;
const EV_CT_REPLY = 3;
const EV_CT_RELATED = 4;

const EV_DIR_EGRESS = 1;
const EV_DIR_INGRESS = 2;

const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** The raw fields of one `struct flow_event`, host order except where noted. */
export interface RawFlowEvent {
  type: number;
  subtype: number;
  ctState: number;
  l4Proto: number;
  srcEp: number;
  dstEp: number;
  ifindex: number;
  /** dotted quad (the wire value is network order) */
  saddr: string;
  daddr: string;
  /** host order (the wire value is network order) */
  sport: number;
  dport: number;
  tcpFlags: number;
  icmpType: number;
  icmpCode: number;
  dir: number;
  len: number;
  srcSecId: number;
  dstSecId: number;
  ktime: bigint;
}

/** Throws HubbleError HUBBLE_EVENT_SIZE when the record is not a 48-byte `struct flow_event`. */
export function checkFlowEventSize(buf: Uint8Array): void {
  if (buf.byteLength !== FLOW_EVENT_SIZE) {
    throw new HubbleError(
      'HUBBLE_EVENT_SIZE',
      `decode flow_event: record is ${buf.byteLength} bytes, expected ${FLOW_EVENT_SIZE}`,
      'the datapath objects and the agent disagree on struct flow_event (bpf/lib/common.h): rebuild both with `make build`',
    );
  }
}

/** Parses the C layout. Throws HubbleError HUBBLE_EVENT_SIZE when the record is not 48 bytes. */
export function parseFlowEvent(buf: Uint8Array): RawFlowEvent {
  checkFlowEventSize(buf);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const ip = (off: number): string => `${dv.getUint8(off)}.${dv.getUint8(off + 1)}.${dv.getUint8(off + 2)}.${dv.getUint8(off + 3)}`;
  return {
    type: dv.getUint8(OFF.type),
    subtype: dv.getUint8(OFF.subtype),
    ctState: dv.getUint8(OFF.ctState),
    l4Proto: dv.getUint8(OFF.l4Proto),
    srcEp: dv.getUint16(OFF.srcEp, true),
    dstEp: dv.getUint16(OFF.dstEp, true),
    ifindex: dv.getUint32(OFF.ifindex, true),
    saddr: ip(OFF.saddr),
    daddr: ip(OFF.daddr),
    sport: dv.getUint16(OFF.sport, false),
    dport: dv.getUint16(OFF.dport, false),
    tcpFlags: dv.getUint8(OFF.tcpFlags),
    icmpType: dv.getUint8(OFF.icmpType),
    icmpCode: dv.getUint8(OFF.icmpCode),
    dir: dv.getUint8(OFF.dir),
    len: dv.getUint32(OFF.len, true),
    srcSecId: dv.getUint32(OFF.srcSecId, true),
    dstSecId: dv.getUint32(OFF.dstSecId, true),
    ktime: dv.getBigUint64(OFF.ktime, true),
  };
}

/** Encodes the C layout (for tests and tools that synthesise events). */
export function encodeFlowEvent(e: RawFlowEvent): Buffer {
  const buf = Buffer.alloc(FLOW_EVENT_SIZE);
  const putIp = (off: number, s: string): void => {
    const parts = s.split('.').map(Number);
    for (let i = 0; i < 4; i++) buf.writeUInt8(parts[i] ?? 0, off + i);
  };
  buf.writeUInt8(e.type, OFF.type);
  buf.writeUInt8(e.subtype, OFF.subtype);
  buf.writeUInt8(e.ctState, OFF.ctState);
  buf.writeUInt8(e.l4Proto, OFF.l4Proto);
  buf.writeUInt16LE(e.srcEp, OFF.srcEp);
  buf.writeUInt16LE(e.dstEp, OFF.dstEp);
  buf.writeUInt32LE(e.ifindex, OFF.ifindex);
  putIp(OFF.saddr, e.saddr);
  putIp(OFF.daddr, e.daddr);
  buf.writeUInt16BE(e.sport, OFF.sport);
  buf.writeUInt16BE(e.dport, OFF.dport);
  buf.writeUInt8(e.tcpFlags, OFF.tcpFlags);
  buf.writeUInt8(e.icmpType, OFF.icmpType);
  buf.writeUInt8(e.icmpCode, OFF.icmpCode);
  buf.writeUInt8(e.dir, OFF.dir);
  buf.writeUInt32LE(e.len, OFF.len);
  buf.writeUInt32LE(e.srcSecId, OFF.srcSecId);
  buf.writeUInt32LE(e.dstSecId, OFF.dstSecId);
  buf.writeBigUInt64LE(e.ktime, OFF.ktime);
  return buf;
}

// Cilium's raw TRACE_* numbering -> flow.TraceObservationPoint (0 is TO_LXC, which Hubble reports as TO_ENDPOINT)
function observationPoint(raw: number): TraceObservationPoint {
  switch (raw) {
    case 0:
      return TraceObservationPoint.TO_ENDPOINT;
    case 1:
      return TraceObservationPoint.TO_PROXY;
    case 2:
      return TraceObservationPoint.TO_HOST;
    case 3:
      return TraceObservationPoint.TO_STACK;
    case 4:
      return TraceObservationPoint.TO_OVERLAY;
    case 5:
      return TraceObservationPoint.FROM_ENDPOINT;
    case 6:
      return TraceObservationPoint.FROM_PROXY;
    case 7:
      return TraceObservationPoint.FROM_HOST;
    case 8:
      return TraceObservationPoint.FROM_STACK;
    case 9:
      return TraceObservationPoint.FROM_OVERLAY;
    case 10:
      return TraceObservationPoint.FROM_NETWORK;
    case 11:
      return TraceObservationPoint.TO_NETWORK;
    default:
      return TraceObservationPoint.UNKNOWN_POINT;
  }
}

function traceReason(ct: number): TraceReason {
  switch (ct) {
    case EV_CT_NEW:
      return TraceReason.NEW;
    case EV_CT_ESTABLISHED:
      return TraceReason.ESTABLISHED;
    case EV_CT_REPLY:
      return TraceReason.REPLY;
    case EV_CT_RELATED:
      return TraceReason.RELATED;
    default:
      return TraceReason.TRACE_REASON_UNKNOWN;
  }
}

/** TCP flags as Hubble's summary lists them: "SYN, ACK" (its fixed order). */
export function tcpFlagsSummary(f: TCPFlags): string {
  const out: string[] = [];
  if (f.SYN) out.push('SYN');
  if (f.ACK) out.push('ACK');
  if (f.RST) out.push('RST');
  if (f.FIN) out.push('FIN');
  if (f.PSH) out.push('PSH');
  if (f.URG) out.push('URG');
  if (f.ECE) out.push('ECE');
  if (f.CWR) out.push('CWR');
  if (f.NS) out.push('NS');
  return out.join(', ');
}

// gopacket's ICMPv4TypeCode.String(), which Hubble uses for "ICMPv4 <type>" summaries
const ICMP4_TYPES: Record<number, { name: string; codes?: Record<number, string> }> = {
  0: { name: 'EchoReply' },
  3: {
    name: 'DestinationUnreachable',
    codes: {
      0: 'Net', 1: 'Host', 2: 'Protocol', 3: 'Port', 4: 'FragmentationNeeded', 5: 'SourceRoutingFailed',
      6: 'NetUnknown', 7: 'HostUnknown', 8: 'SourceIsolated', 9: 'NetAdminProhibited', 10: 'HostAdminProhibited',
      11: 'NetTOS', 12: 'HostTOS', 13: 'CommAdminProhibited', 14: 'HostPrecedence', 15: 'PrecedenceCutoff',
    },
  },
  4: { name: 'SourceQuench' },
  5: { name: 'Redirect', codes: { 0: 'Network', 1: 'Host', 2: 'TOS+Network', 3: 'TOS+Host' } },
  8: { name: 'EchoRequest' },
  9: { name: 'RouterAdvertisement' },
  10: { name: 'RouterSolicitation' },
  11: { name: 'TimeExceeded', codes: { 0: 'TTLExceeded', 1: 'FragmentReassemblyTimeExceeded' } },
  12: { name: 'ParameterProblem', codes: { 0: 'PointerIndicatesError', 1: 'MissingOption', 2: 'BadLength' } },
  13: { name: 'TimestampRequest' },
  14: { name: 'TimestampReply' },
  15: { name: 'InfoRequest' },
  16: { name: 'InfoReply' },
  17: { name: 'AddressMaskRequest' },
  18: { name: 'AddressMaskReply' },
};

export function icmp4TypeCode(type: number, code: number): string {
  const t = ICMP4_TYPES[type];
  if (!t) return `${type}(${code})`;
  if (!t.codes) return code === 0 ? t.name : `${t.name}(Code: ${code})`;
  const c = t.codes[code];
  return c !== undefined ? `${t.name}(${c})` : `${t.name}(Code: ${code})`;
}

const RESERVED_IDENTITY_LABELS: Record<number, string> = {
  1: 'reserved:host',
  2: 'reserved:world',
  3: 'reserved:unmanaged',
  4: 'reserved:health',
  5: 'reserved:init',
  6: 'reserved:remote-node',
  7: 'reserved:kube-apiserver',
  8: 'reserved:ingress',
};

export interface FlowDecoderOptions {
  nodeName: string;
  resolver: EndpointResolver;
  /** Wall-clock ns minus CLOCK_MONOTONIC ns; computed once from Date.now() and process.hrtime if omitted. */
  monotonicToWallNs?: bigint;
}

/** Turns ring-buffer records into flows. Keeps the ktime -> wall clock offset computed at construction. */
export class FlowDecoder {
  readonly nodeName: string;
  readonly monotonicToWallNs: bigint;
  private readonly resolver: EndpointResolver;

  constructor(opts: FlowDecoderOptions) {
    this.nodeName = opts.nodeName;
    this.resolver = opts.resolver;
    // process.hrtime is CLOCK_MONOTONIC, the clock bpf_ktime_get_ns() reads
    this.monotonicToWallNs = opts.monotonicToWallNs ?? BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  }

  /** Throws HubbleError HUBBLE_EVENT_SIZE (bad record size) or HUBBLE_EVENT_TYPE (neither trace nor drop). */
  decode(buf: Uint8Array): Flow {
    const ev = parseFlowEvent(buf);
    if (ev.type !== EVENT_TRACE && ev.type !== EVENT_DROP) {
      throw new HubbleError(
        'HUBBLE_EVENT_TYPE',
        `decode flow_event: unknown event type ${ev.type}`,
        'only EVENT_DROP (1) and EVENT_TRACE (4) are defined in bpf/lib/common.h; rebuild datapath and agent together',
      );
    }
    return this.fromRaw(ev);
  }

  fromRaw(ev: RawFlowEvent): Flow {
    const wallNs = this.monotonicToWallNs + ev.ktime;
    const flow = create(FlowSchema, {
      time: { seconds: wallNs / 1_000_000_000n, nanos: Number(wallNs % 1_000_000_000n) },
      verdict: ev.type === EVENT_DROP ? Verdict.DROPPED : Verdict.FORWARDED,
      IP: create(IPSchema, { source: ev.saddr, destination: ev.daddr, ipVersion: IPVersion.IPv4 }),
      source: this.endpoint(ev.srcEp, ev.saddr, ev.srcSecId),
      destination: this.endpoint(ev.dstEp, ev.daddr, ev.dstSecId),
      Type: FlowType.L3_L4,
      nodeName: this.nodeName,
      eventType: create(CiliumEventTypeSchema, { type: ev.type, subType: ev.subtype }),
      interface: create(NetworkInterfaceSchema, { index: ev.ifindex }),
    });
    if (ev.type === EVENT_DROP) {
      flow.dropReason = ev.subtype;
      flow.dropReasonDesc = ev.subtype as DropReason;
    } else {
      flow.traceObservationPoint = observationPoint(ev.subtype);
      flow.traceReason = traceReason(ev.ctState);
    }
    if (ev.ctState === EV_CT_REPLY) flow.isReply = true;
    else if (ev.ctState !== EV_CT_NONE) flow.isReply = false;
    flow.reply = flow.isReply === true;
    if (ev.dir === EV_DIR_EGRESS) flow.trafficDirection = TrafficDirection.EGRESS;
    else if (ev.dir === EV_DIR_INGRESS) flow.trafficDirection = TrafficDirection.INGRESS;

    const { l4, summary } = layer4(ev);
    if (l4) flow.l4 = l4;
    flow.Summary = summary;
    return flow;
  }

  private endpoint(epId: number, ip: string, secId: number): Endpoint {
    let info: EndpointInfo | undefined;
    if (epId !== 0) info = this.resolver.byId(epId);
    info ??= this.resolver.byIp(ip);
    const identity = secId !== 0 ? secId : (info?.identity ?? 0);
    const ep = create(EndpointSchema, { ID: epId !== 0 ? epId : (info?.id ?? 0), identity });
    if (info) {
      if (info.podName !== undefined) ep.podName = info.podName;
      if (info.namespace !== undefined) ep.namespace = info.namespace;
      ep.labels = [...info.labels].sort();
    } else {
      const reserved = RESERVED_IDENTITY_LABELS[identity];
      if (reserved) ep.labels = [reserved];
    }
    return ep;
  }
}

function layer4(ev: RawFlowEvent): { l4: Layer4 | undefined; summary: string } {
  switch (ev.l4Proto) {
    case IPPROTO_TCP: {
      const f = ev.tcpFlags;
      const flags = create(TCPFlagsSchema, {
        FIN: (f & 1) !== 0,
        SYN: (f & 2) !== 0,
        RST: (f & 4) !== 0,
        PSH: (f & 8) !== 0,
        ACK: (f & 16) !== 0,
        URG: (f & 32) !== 0,
        ECE: (f & 64) !== 0,
        CWR: (f & 128) !== 0,
      });
      const tcp = create(TCPSchema, { sourcePort: ev.sport, destinationPort: ev.dport, flags });
      return {
        l4: create(Layer4Schema, { protocol: { case: 'TCP', value: tcp } }),
        summary: `TCP Flags: ${tcpFlagsSummary(flags)}`,
      };
    }
    case IPPROTO_UDP:
      return {
        l4: create(Layer4Schema, {
          protocol: { case: 'UDP', value: create(UDPSchema, { sourcePort: ev.sport, destinationPort: ev.dport }) },
        }),
        summary: 'UDP',
      };
    case IPPROTO_ICMP:
      return {
        l4: create(Layer4Schema, {
          protocol: { case: 'ICMPv4', value: create(ICMPv4Schema, { type: ev.icmpType, code: ev.icmpCode }) },
        }),
        summary: `ICMPv4 ${icmp4TypeCode(ev.icmpType, ev.icmpCode)}`,
      };
    default:
      // gopacket names the last decoded layer; for an unknown L4 that is the IPv4 layer
      return { l4: undefined, summary: 'IPv4' };
  }
}
