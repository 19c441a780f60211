import { describe, expect, it } from 'vitest';
import { kprSummary } from './kpr-summary.js';

describe('cilium status: KubeProxyReplacement from cilium-config', () => {
  it('true: every feature unless turned off', () => {
    expect(kprSummary({ 'kube-proxy-replacement': 'true' })).toBe('True   [NodePort (SNAT, 30000-32767, Random), HostPort, ExternalIPs, SocketLB, SessionAffinity]');
    expect(kprSummary({ 'kube-proxy-replacement': 'true', 'enable-host-port': 'false', 'bpf-lb-algorithm': 'maglev', 'bpf-lb-mode': 'dsr', 'node-port-range': '30000,31000' })).toBe(
      'True   [NodePort (DSR, 30000-31000, Maglev), ExternalIPs, SocketLB, SessionAffinity]',
    );
    expect(kprSummary({ 'kube-proxy-replacement': 'true', 'bpf-lb-mode': 'hybrid' })).toMatch(/^True {3}\[NodePort \(Hybrid, 30000-32767, Random\)/);
  });
  it('partial: only what is turned on; false/disabled: nothing; no cilium-config: no line', () => {
    expect(kprSummary({ 'kube-proxy-replacement': 'partial', 'enable-node-port': 'true', 'enable-host-reachable-services': 'true' })).toBe('Partial   [NodePort (SNAT, 30000-32767, Random), SocketLB]');
    expect(kprSummary({ 'kube-proxy-replacement': 'disabled' })).toBe('Disabled');
    expect(kprSummary({})).toBe('False');
    expect(kprSummary(undefined)).toBe('');
  });
});
