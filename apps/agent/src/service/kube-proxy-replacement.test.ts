import { describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../config.js';
import { resolveKubeProxyReplacement, type KprCapabilities } from './kube-proxy-replacement.js';

const full: KprCapabilities = { cgroupSockAddr: true, lruHash: true, schedCls: true, lbMaps: true, sockObject: true, hostObject: true, cgroupRootProblem: undefined, missingDevices: [] };
const cfg = (flags: Record<string, unknown>) => loadAgentConfig({ podCidr: '10.0.0.0/24', ...flags });
const on = (r: ReturnType<typeof resolveKubeProxyReplacement>) =>
  Object.entries(r.features)
    .filter(([, v]) => v)
    .map(([k]) => k)
    .sort();

describe('kube-proxy-replacement modes', () => {
  it('false / disabled: no NodePort, HostPort, ExternalIPs or socket LB', () => {
    for (const m of ['false', 'disabled']) expect(on(resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: m }), full))).toEqual(['sessionAffinity']);
  });

  it('true / strict / probe: everything this node has', () => {
    for (const m of ['true', 'strict', 'probe']) {
      const r = resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: m, bpfLbAlgorithm: 'maglev', nodePortRange: '31000-31999' }), full);
      expect(on(r)).toEqual(['externalIPs', 'hostPort', 'nodePort', 'sessionAffinity', 'socketLB']);
      expect(r.status.features.nodePort).toEqual({ enabled: true, mode: 'SNAT', algorithm: 'Maglev', portMin: 31000, portMax: 31999 });
      expect(r.status.mode).toBe(m);
    }
  });

  it('strict refuses to start without a needed feature, naming it; probe turns it off and says so', () => {
    const noSock = { ...full, cgroupSockAddr: false, lruHash: false };
    expect(() => resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: 'strict' }), noSock)).toThrow(/socketLB needs cgroup sock_addr programs.*sessionAffinity needs LRU hash maps/);
    expect(() => resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: 'strict' }), noSock)).toThrow(expect.objectContaining({ code: 'KPR_FEATURE_MISSING' }));
    const p = resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: 'probe' }), noSock);
    expect(on(p)).toEqual(['externalIPs', 'hostPort', 'nodePort']);
    expect(p.status.messages?.join('\n')).toMatch(/socketLB disabled: needs cgroup sock_addr/);
    // no LB maps in the datapath: strict refuses, probe runs without
    expect(() => resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: 'strict' }), { ...full, lbMaps: false })).toThrow(/cilium_lb4_/);
    expect(on(resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: 'probe' }), { ...full, lbMaps: false }))).toEqual(['sessionAffinity']);
  });

  it('an unusable --cgroup-root: strict refuses, true and probe run without socket LB', () => {
    const c = { ...full, cgroupRootProblem: '/x is the root of the cgroup2 hierarchy (the whole machine)' };
    expect(() => resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: 'strict' }), c)).toThrow(/cgroup-root: \/x is the root/);
    for (const m of ['true', 'probe']) {
      const r = resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: m }), c);
      expect(r.features.socketLB).toBe(false);
      expect(r.status.messages?.[0]).toMatch(/socketLB disabled: \/x is the root/);
    }
  });

  it('partial: only the sub-features turned on; one that cannot work refuses the start', () => {
    expect(on(resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: 'partial' }), full))).toEqual(['sessionAffinity']);
    const r = resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: 'partial', enableNodePort: true, enableHostReachableServices: true }), full);
    expect(on(r)).toEqual(['nodePort', 'sessionAffinity', 'socketLB']);
    expect(on(resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: 'partial', bpfLbSock: true, enableExternalIps: true }), full))).toEqual(['externalIPs', 'sessionAffinity', 'socketLB']);
    expect(() => resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: 'partial', enableHostPort: true }), full)).toThrow(/hostPort needs NodePort/);
    expect(() => resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: 'partial', enableNodePort: true, devices: ['eth9'] }), { ...full, hostObject: false, missingDevices: ['eth9'] })).toThrow(/bpf_host\.o.*devices eth9/);
  });

  it('DSR needs native routing: strict refuses in tunnel mode, true/probe fall back to SNAT and say so', () => {
    for (const m of ['dsr', 'hybrid']) {
      const native = resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: 'strict', bpfLbMode: m, routingMode: 'native' }), full);
      expect(native.lbMode).toBe(m);
      expect(native.status.features.nodePort.mode).toBe(m === 'dsr' ? 'DSR' : 'Hybrid');
      expect(() => resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: 'strict', bpfLbMode: m, routingMode: 'tunnel' }), full)).toThrow(
        expect.objectContaining({ code: 'KPR_DSR_NEEDS_NATIVE_ROUTING', hint: expect.stringMatching(/routing-mode native/) as unknown }),
      );
      for (const k of ['true', 'probe']) {
        const r = resolveKubeProxyReplacement(cfg({ kubeProxyReplacement: k, bpfLbMode: m, routingMode: 'tunnel' }), full);
        expect(r.lbMode).toBe('snat');
        expect(r.status.features.nodePort.mode).toBe('SNAT');
        expect(r.status.messages?.join('\n')).toMatch(/DSR disabled: .*needs routing-mode native/);
      }
    }
  });

  it('config: Cilium flag values are checked', () => {
    expect(() => cfg({ bpfLbAlgorithm: 'roundrobin' })).toThrow(/bpfLbAlgorithm/);
    expect(() => cfg({ bpfLbMode: 'maglev' })).toThrow(/bpfLbMode/);
    expect(cfg({ bpfLbMode: 'hybrid' }).bpfLbMode).toBe('hybrid');
    expect(() => cfg({ nodePortRange: '32767-30000' })).toThrow(/nodePortRange/);
    expect(cfg({}).cgroupRoot).toBe('/run/cilium/cgroupv2');
    expect(cfg({}).nodePortRange).toBe('30000-32767');
  });
});
