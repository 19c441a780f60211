import { toJson } from '@bufbuild/protobuf';
import {
  DropReason,
  FlowSchema,
  FlowType,
  IPVersion,
  TraceObservationPoint,
  TraceReason,
  TrafficDirection,
  Verdict,
} from '@cilium-ts/api/hubble';
import { describe, expect, it } from 'vitest';
import type { EndpointInfo, EndpointResolver } from './endpoint-resolver.js';
import { FLOW_EVENT_SIZE, FlowDecoder, encodeFlowEvent, parseFlowEvent, type RawFlowEvent } from './flow-decoder.js';
import { HubbleError } from './hubble-error.js';

const eps: EndpointInfo[] = [
  { id: 101, identity: 30001, podName: 'client', namespace: 'default', labels: ['k8s:app=client', 'k8s:io.kubernetes.pod.namespace=default'] },
  { id: 202, identity: 30002, podName: 'server', namespace: 'demo', labels: ['k8s:app=server'] },
];
const ips: Record<string, EndpointInfo> = { '10.0.0.11': eps[0]!, '10.0.0.22': eps[1]! };
const resolver: EndpointResolver = {
  byId: (id) => eps.find((e) => e.id === id),
  byIp: (ip) => ips[ip],
};

function raw(over: Partial<RawFlowEvent>): RawFlowEvent {
  return {
    type: 4, subtype: 5, ctState: 1, l4Proto: 6, srcEp: 101, dstEp: 202, ifindex: 7,
    saddr: '10.0.0.11', daddr: '10.0.0.22', sport: 40000, dport: 8080, tcpFlags: 2,
    icmpType: 0, icmpCode: 0, dir: 1, len: 74, srcSecId: 0, dstSecId: 0, ktime: 5_000_000_123n, ...over,
  };
}

describe('flow_event layout', () => {
  it('reads fields at the offsets of struct flow_event (hand-built bytes)', () => {
    const b = Buffer.alloc(FLOW_EVENT_SIZE);
    b[0] = 1; // type DROP
    b[1] = 133; // POLICY_DENIED
    b[2] = 3; // REPLY
    b[3] = 17; // UDP
    b.writeUInt16LE(0x1234, 4);
    b.writeUInt16LE(0x0102, 6);
    b.writeUInt32LE(0xdeadbeef, 8);
    Buffer.from([192, 168, 1, 2]).copy(b, 12);
    Buffer.from([10, 0, 0, 1]).copy(b, 16);
    b[20] = 0x1f; b[21] = 0x90; // 8080 in network order
    b[22] = 0x00; b[23] = 0x35; // 53
    b[24] = 0x12; b[25] = 8; b[26] = 1; b[27] = 2;
    b.writeUInt32LE(1500, 28);
    b.writeUInt32LE(4, 32);
    b.writeUInt32LE(70000, 36);
    b.writeBigUInt64LE(0x0102030405060708n, 40);
    const e = parseFlowEvent(b);
    expect(e).toEqual({
      type: 1, subtype: 133, ctState: 3, l4Proto: 17, srcEp: 0x1234, dstEp: 0x0102, ifindex: 0xdeadbeef,
      saddr: '192.168.1.2', daddr: '10.0.0.1', sport: 8080, dport: 53, tcpFlags: 0x12, icmpType: 8, icmpCode: 1,
      dir: 2, len: 1500, srcSecId: 4, dstSecId: 70000, ktime: 0x0102030405060708n,
    });
    expect(encodeFlowEvent(e).equals(b)).toBe(true);
  });

  it('rejects records that are not 48 bytes with a coded error', () => {
    const d = new FlowDecoder({ nodeName: 'n1', resolver });
    for (const n of [0, 47, 49, 64]) {
      try {
        d.decode(Buffer.alloc(n));
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(HubbleError);
        expect((e as HubbleError).code).toBe('HUBBLE_EVENT_SIZE');
        expect((e as HubbleError).hint).toMatch(/make build/);
      }
    }
    expect(() => d.decode(encodeFlowEvent(raw({ type: 9 })))).toThrow(/unknown event type 9/);
  });

  it('decodes a sub-buffer view (ring buffer records are slices)', () => {
    const big = Buffer.alloc(100);
    encodeFlowEvent(raw({ sport: 1234 })).copy(big, 20);
    expect(parseFlowEvent(big.subarray(20, 68)).sport).toBe(1234);
  });
});

describe('FlowDecoder', () => {
  const offset = 1_700_000_000_000_000_000n;
  const d = new FlowDecoder({ nodeName: 'node-a', resolver, monotonicToWallNs: offset });

  it('TCP SYN from-endpoint trace', () => {
    const f = d.decode(encodeFlowEvent(raw({})));
    expect(f.time?.seconds).toBe(1_700_000_005n);
    expect(f.time?.nanos).toBe(123);
    expect(f.verdict).toBe(Verdict.FORWARDED);
    expect(f.Type).toBe(FlowType.L3_L4);
    expect(f.nodeName).toBe('node-a');
    expect(f.IP).toMatchObject({ source: '10.0.0.11', destination: '10.0.0.22', ipVersion: IPVersion.IPv4 });
    expect(f.l4?.protocol.case).toBe('TCP');
    if (f.l4?.protocol.case === 'TCP') {
      expect(f.l4.protocol.value.sourcePort).toBe(40000);
      expect(f.l4.protocol.value.destinationPort).toBe(8080);
      expect(f.l4.protocol.value.flags?.SYN).toBe(true);
      expect(f.l4.protocol.value.flags?.ACK).toBe(false);
    }
    expect(f.Summary).toBe('TCP Flags: SYN');
    expect(f.eventType).toMatchObject({ type: 4, subType: 5 });
    expect(f.traceObservationPoint).toBe(TraceObservationPoint.FROM_ENDPOINT);
    expect(f.traceReason).toBe(TraceReason.NEW);
    expect(f.isReply).toBe(false);
    expect(f.trafficDirection).toBe(TrafficDirection.EGRESS);
    expect(f.interface?.index).toBe(7);
    expect(f.source).toMatchObject({ ID: 101, identity: 30001, podName: 'client', namespace: 'default' });
    expect(f.source?.labels).toEqual(['k8s:app=client', 'k8s:io.kubernetes.pod.namespace=default']);
    expect(f.destination).toMatchObject({ ID: 202, identity: 30002, podName: 'server', namespace: 'demo' });
    expect(f.dropReasonDesc).toBe(DropReason.DROP_REASON_UNKNOWN);
  });

  it('reply, SYN+ACK, to-endpoint (raw 0 -> TO_ENDPOINT 101), ingress', () => {
    const f = d.decode(encodeFlowEvent(raw({ subtype: 0, ctState: 3, tcpFlags: 2 | 16, dir: 2, srcEp: 202, dstEp: 101, saddr: '10.0.0.22', daddr: '10.0.0.11', sport: 8080, dport: 40000 })));
    expect(f.traceObservationPoint).toBe(TraceObservationPoint.TO_ENDPOINT);
    expect(f.isReply).toBe(true);
    expect(f.traceReason).toBe(TraceReason.REPLY);
    expect(f.trafficDirection).toBe(TrafficDirection.INGRESS);
    expect(f.Summary).toBe('TCP Flags: SYN, ACK');
  });

  it('all trace observation points', () => {
    const map: Array<[number, TraceObservationPoint]> = [
      [0, TraceObservationPoint.TO_ENDPOINT], [2, TraceObservationPoint.TO_HOST], [3, TraceObservationPoint.TO_STACK],
      [5, TraceObservationPoint.FROM_ENDPOINT], [7, TraceObservationPoint.FROM_HOST], [8, TraceObservationPoint.FROM_STACK],
    ];
    for (const [rawPoint, want] of map) {
      expect(d.decode(encodeFlowEvent(raw({ subtype: rawPoint }))).traceObservationPoint).toBe(want);
    }
  });

  it('TCP flag order follows Hubble (SYN, ACK, RST, FIN, PSH, ...)', () => {
    expect(d.decode(encodeFlowEvent(raw({ tcpFlags: 1 | 16 }))).Summary).toBe('TCP Flags: ACK, FIN');
    expect(d.decode(encodeFlowEvent(raw({ tcpFlags: 8 | 16 }))).Summary).toBe('TCP Flags: ACK, PSH');
    expect(d.decode(encodeFlowEvent(raw({ tcpFlags: 4 }))).Summary).toBe('TCP Flags: RST');
  });

  it('drop with reason, UDP, unknown reply state', () => {
    const f = d.decode(encodeFlowEvent(raw({ type: 1, subtype: 133, ctState: 0, l4Proto: 17, sport: 5353, dport: 53, srcSecId: 4, dstSecId: 12345, dir: 2 })));
    expect(f.verdict).toBe(Verdict.DROPPED);
    expect(f.dropReason).toBe(133);
    expect(f.dropReasonDesc).toBe(DropReason.POLICY_DENIED);
    expect(f.eventType).toMatchObject({ type: 1, subType: 133 });
    expect(f.isReply).toBeUndefined();
    expect(f.traceObservationPoint).toBe(TraceObservationPoint.UNKNOWN_POINT);
    expect(f.Summary).toBe('UDP');
    expect(f.l4?.protocol).toMatchObject({ case: 'UDP', value: { sourcePort: 5353, destinationPort: 53 } });
    // identities from the event win over the resolver's
    expect(f.source?.identity).toBe(4);
    expect(f.destination?.identity).toBe(12345);
    const json = toJson(FlowSchema, f, { useProtoFieldName: true }) as Record<string, unknown>;
    expect(json['drop_reason_desc']).toBe('POLICY_DENIED');
    expect(json['verdict']).toBe('DROPPED');
    expect(json['is_reply']).toBeUndefined();
  });

  it('ICMP echo request / reply and unknown endpoints', () => {
    const f = d.decode(encodeFlowEvent(raw({ l4Proto: 1, sport: 0, dport: 0, icmpType: 8, icmpCode: 0, srcEp: 0, dstEp: 0, saddr: '192.0.2.1', daddr: '192.0.2.2', srcSecId: 2 })));
    expect(f.Summary).toBe('ICMPv4 EchoRequest');
    expect(f.l4?.protocol).toMatchObject({ case: 'ICMPv4', value: { type: 8, code: 0 } });
    expect(f.source).toMatchObject({ ID: 0, identity: 2, podName: '', labels: ['reserved:world'] });
    expect(f.destination).toMatchObject({ ID: 0, identity: 0, labels: [] });
    expect(d.decode(encodeFlowEvent(raw({ l4Proto: 1, icmpType: 0 }))).Summary).toBe('ICMPv4 EchoReply');
    expect(d.decode(encodeFlowEvent(raw({ l4Proto: 1, icmpType: 3, icmpCode: 3 }))).Summary).toBe('ICMPv4 DestinationUnreachable(Port)');
  });

  it('endpoint found by IP when the event carries no endpoint id', () => {
    const f = d.decode(encodeFlowEvent(raw({ srcEp: 0, dstEp: 0 })));
    expect(f.source).toMatchObject({ ID: 101, podName: 'client' });
    expect(f.destination).toMatchObject({ ID: 202, podName: 'server' });
  });

  it('default clock offset maps bpf_ktime_get_ns (CLOCK_MONOTONIC) onto wall time', () => {
    const live = new FlowDecoder({ nodeName: 'n', resolver });
    const f = live.decode(encodeFlowEvent(raw({ ktime: process.hrtime.bigint() })));
    const ms = Number(f.time!.seconds) * 1000 + f.time!.nanos / 1e6;
    expect(Math.abs(ms - Date.now())).toBeLessThan(1000);
  });
});
