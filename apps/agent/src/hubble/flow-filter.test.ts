import { create } from '@bufbuild/protobuf';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { EndpointSchema, FlowFilterSchema, FlowSchema, IPSchema, Verdict, type FlowFilter } from '@cilium-ts/api/hubble';
import { describe, expect, it } from 'vitest';
import { compileFilter, compileFilters } from './flow-filter.js';
import { HubbleError } from './hubble-error.js';

const flow = create(FlowSchema, {
  verdict: Verdict.FORWARDED,
  nodeName: 'kind-worker',
  IP: create(IPSchema, { source: '10.0.1.5', destination: '192.168.0.9' }),
  source: create(EndpointSchema, { identity: 300, namespace: 'default', podName: 'xwing-12', labels: ['k8s:app=xwing', 'k8s:class=fighter'] }),
  destination: create(EndpointSchema, { identity: 2, labels: ['reserved:world'] }),
  isReply: false,
});
const f = (init: MessageInitShape<typeof FlowFilterSchema>): FlowFilter => create(FlowFilterSchema, init);

describe('flow filters', () => {
  it('IP, CIDR, pod prefix and namespace', () => {
    expect(compileFilter(f({ sourceIp: ['10.0.1.5'] }))(flow)).toBe(true);
    expect(compileFilter(f({ sourceIp: ['10.0.0.0/16'] }))(flow)).toBe(true);
    expect(compileFilter(f({ sourceIp: ['10.0.2.0/24'] }))(flow)).toBe(false);
    expect(compileFilter(f({ destinationIp: ['0.0.0.0/0'] }))(flow)).toBe(true);
    expect(compileFilter(f({ sourcePod: ['xwing'] }))(flow)).toBe(true);
    expect(compileFilter(f({ sourcePod: ['kube-system/xwing'] }))(flow)).toBe(false);
    expect(compileFilter(f({ sourcePod: ['/xwing-1'] }))(flow)).toBe(true);
    expect(compileFilter(f({ sourcePod: ['default/'] }))(flow)).toBe(true);
    expect(compileFilter(f({ destinationPod: ['default/'] }))(flow)).toBe(false);
  });

  it('labels, identities, node names, reply', () => {
    expect(compileFilter(f({ sourceLabel: ['app=xwing'] }))(flow)).toBe(true);
    expect(compileFilter(f({ sourceLabel: ['k8s:app=xwing'] }))(flow)).toBe(true);
    expect(compileFilter(f({ sourceLabel: ['app'] }))(flow)).toBe(true);
    expect(compileFilter(f({ sourceLabel: ['app=tiefighter'] }))(flow)).toBe(false);
    expect(compileFilter(f({ destinationLabel: ['reserved:world'] }))(flow)).toBe(true);
    expect(compileFilter(f({ sourceIdentity: [300, 301] }))(flow)).toBe(true);
    expect(compileFilter(f({ destinationIdentity: [300] }))(flow)).toBe(false);
    expect(compileFilter(f({ nodeName: ['kind-*'] }))(flow)).toBe(true);
    expect(compileFilter(f({ nodeName: ['other'] }))(flow)).toBe(false);
    expect(compileFilter(f({ reply: [false] }))(flow)).toBe(true);
    expect(compileFilter(f({ reply: [true] }))(flow)).toBe(false);
  });

  it('whitelist OR, blacklist wins, AND inside a filter', () => {
    expect(compileFilters([], [])(flow)).toBe(true);
    expect(compileFilters([f({ verdict: [Verdict.DROPPED] }), f({ sourceIp: ['10.0.1.5'] })], [])(flow)).toBe(true);
    expect(compileFilters([f({ verdict: [Verdict.DROPPED], sourceIp: ['10.0.1.5'] })], [])(flow)).toBe(false);
    expect(compileFilters([], [f({ sourcePod: ['default/'] })])(flow)).toBe(false);
  });

  it('malformed values are coded errors', () => {
    expect(() => compileFilter(f({ sourceIp: ['10.0.0.0/40'] }))).toThrow(HubbleError);
    expect(() => compileFilter(f({ destinationPort: ['http'] }))).toThrow(/invalid destination_port/);
    expect(() => compileFilter(f({ sourcePod: [''] }))).toThrow(/empty source_pod/);
  });
});
