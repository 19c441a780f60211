import { Verdict, TrafficDirection } from '@cilium-ts/api/hubble';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LAST, buildGetFlowsRequest, parseTime } from './observe-request.js';
import { HubbleClientError } from './observer-client.js';
import { parseServer } from './observer-client.js';

describe('buildGetFlowsRequest (hubble observe flags)', () => {
  it('defaults to the last 20 flows, and to only new flows with --follow', () => {
    expect(buildGetFlowsRequest({}).number).toBe(BigInt(DEFAULT_LAST));
    const f = buildGetFlowsRequest({ follow: true });
    expect(f.number).toBe(0n);
    expect(f.follow).toBe(true);
    expect(buildGetFlowsRequest({ follow: true, last: 5 }).number).toBe(5n);
    expect(buildGetFlowsRequest({ all: true }).number).toBe(0n);
    expect(buildGetFlowsRequest({ first: 3 })).toMatchObject({ first: true, number: 3n });
    expect(() => buildGetFlowsRequest({ first: 3, follow: true })).toThrow(HubbleClientError);
    expect(buildGetFlowsRequest({}).whitelist).toEqual([]);
  });

  it('ANDs different flags in one filter and ORs repeated values', () => {
    const r = buildGetFlowsRequest({ fromIp: ['10.0.0.1', '10.0.0.2'], verdict: ['dropped'], protocol: ['TCP'], toPort: ['80'], type: ['trace:to-endpoint'] });
    expect(r.whitelist).toHaveLength(1);
    const w = r.whitelist[0]!;
    expect(w.sourceIp).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(w.verdict).toEqual([Verdict.DROPPED]);
    expect(w.protocol).toEqual(['tcp']);
    expect(w.destinationPort).toEqual(['80']);
    expect(w.eventType[0]).toMatchObject({ type: 4, matchSubType: true, subType: 0 });
  });

  it('either-side flags become a source filter and a destination filter', () => {
    const r = buildGetFlowsRequest({ ip: ['10.0.0.9'], port: ['53'], verdict: ['FORWARDED'], namespace: ['kube-system'], trafficDirection: ['ingress'] });
    expect(r.whitelist).toHaveLength(2);
    const [l, rr] = r.whitelist;
    expect(l).toMatchObject({ sourceIp: ['10.0.0.9'], sourcePort: ['53'], sourcePod: ['kube-system/'], destinationIp: [], verdict: [Verdict.FORWARDED] });
    expect(rr).toMatchObject({ destinationIp: ['10.0.0.9'], destinationPort: ['53'], destinationPod: ['kube-system/'], sourceIp: [], verdict: [Verdict.FORWARDED] });
    expect(l?.trafficDirection).toEqual([TrafficDirection.INGRESS]);
  });

  it('rejects bad values with a hint', () => {
    for (const bad of [{ verdict: ['MAYBE'] }, { type: ['nope'] }, { toPort: ['http'] }, { type: ['trace:sideways'] }, { fromIdentity: ['x'] }]) {
      try {
        buildGetFlowsRequest(bad);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(HubbleClientError);
        expect((e as HubbleClientError).hint.length).toBeGreaterThan(0);
      }
    }
  });

  it('times: RFC 3339 or a duration back from now', () => {
    expect(parseTime('2024-01-02T03:04:05Z').seconds).toBe(1704164645n);
    expect(parseTime('5m', 1_000_000).seconds).toBe(BigInt(Math.floor((1_000_000 - 300_000) / 1000)));
    expect(parseTime('1h30m', 10_000_000).seconds).toBe(BigInt((10_000_000 - 5_400_000) / 1000));
    expect(() => parseTime('yesterday')).toThrow(/invalid time/);
  });

  it('--server forms', () => {
    expect(parseServer('unix:///var/run/cilium/hubble.sock')).toEqual({ kind: 'unix', path: '/var/run/cilium/hubble.sock' });
    expect(parseServer('unix:rel.sock')).toEqual({ kind: 'unix', path: 'rel.sock' });
    expect(parseServer('localhost:4245')).toEqual({ kind: 'tcp', host: 'localhost', port: 4245 });
    expect(parseServer('http://[::1]:4245')).toEqual({ kind: 'tcp', host: '::1', port: 4245 });
    expect(() => parseServer('nope')).toThrow(/invalid --server/);
  });
});
