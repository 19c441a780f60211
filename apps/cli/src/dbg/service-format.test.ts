import { describe, expect, it } from 'vitest';
import type { KubeProxyReplacementStatus, Service } from '@cilium-ts/api';
import { bpfLbListText, kprStatusText, serviceListText } from './service-format.js';

const svc = (id: number, ip: string, port: number, type: Service['spec']['flags']['type'], bes: Array<[string, number, string?]>): Service => {
  const spec = {
    id,
    'frontend-address': { ip, port, protocol: 'TCP' as const },
    'backend-addresses': bes.map(([bip, bport, state]) => ({ ip: bip, port: bport, state: (state ?? 'active') as 'active' })),
    flags: { type },
  };
  return { spec, status: { realized: spec } };
};

describe('cilium-dbg service list', () => {
  it("prints Cilium's columns, one line per backend, numbered", () => {
    const t = serviceListText([svc(2, '10.96.0.10', 53, 'ClusterIP', []), svc(1, '10.96.0.1', 443, 'ClusterIP', [['10.0.0.1', 80], ['10.0.0.2', 80, 'terminating']])]);
    expect(t).toBe(
      [
        'ID   Frontend        Service Type   Backend                          ',
        '1    10.96.0.1:443   ClusterIP      1 => 10.0.0.1:80 (active)        ',
        '                                    2 => 10.0.0.2:80 (terminating)   ',
        '2    10.96.0.10:53   ClusterIP                                       ',
        '',
      ].join('\n'),
    );
  });
});

describe('cilium-dbg bpf lb list', () => {
  it('groups slots under their frontend: master row first with flags, then backends (REVNAT_ID) (SLOT)', () => {
    const k = (slot: number) => ({ address: '10.96.0.10', dport: 80, backendSlot: slot, proto: 6, scope: 0 });
    const v = (bid: number, count = 0) => ({ backendId: bid, affinityTimeout: 0, count, revNatIndex: 9, flags: 1, flags2: 0 });
    const t = bpfLbListText(
      [
        [k(2), v(12)],
        [k(0), v(0, 2)],
        [k(1), v(11)],
      ],
      new Map([
        [11, { address: '10.0.1.1', port: 8080, proto: 6, state: 0, flags: 0 }],
        [12, { address: '10.0.1.2', port: 8080, proto: 6, state: 0, flags: 0 }],
      ]),
    );
    expect(t.split('\n').map((l) => l.trimEnd())).toEqual([
      'SERVICE ADDRESS     BACKEND ADDRESS (REVNAT_ID) (SLOT)',
      '10.96.0.10:80/TCP   0.0.0.0:0 (9) (0) [ClusterIP, non-routable]',
      '                    10.0.1.1:8080 (9) (1)',
      '                    10.0.1.2:8080 (9) (2)',
      '',
    ]);
  });
});

describe('cilium-dbg status: KubeProxyReplacement', () => {
  it('prints the mode with the devices, then the enabled features', () => {
    const k: KubeProxyReplacementStatus = {
      mode: 'true',
      deviceList: [{ name: 'eth0', ip: ['192.168.1.10'] }],
      directRoutingDevice: 'eth0',
      features: {
        nodePort: { enabled: true, mode: 'SNAT', algorithm: 'Maglev', portMin: 30000, portMax: 32767 },
        hostPort: { enabled: true },
        externalIPs: { enabled: true },
        hostReachableServices: { enabled: true, protocols: ['TCP', 'UDP'] },
        sessionAffinity: { enabled: true },
        socketLB: { enabled: true },
      },
    };
    const t = kprStatusText(k);
    expect(t.split('\n')[0]).toBe('KubeProxyReplacement:     True   [eth0 192.168.1.10 (Direct Routing)]');
    expect(t).toContain('  Socket LB:              Enabled\n');
    expect(t).toContain('  Backend Selection:      Maglev\n');
    expect(t).toContain('  - NodePort:       Enabled (Range: 30000-32767)\n');
    expect(kprStatusText({ mode: 'false' })).toBe('KubeProxyReplacement:     False\n');
  });
});
