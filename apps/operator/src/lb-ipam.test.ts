import { describe, expect, it } from 'vitest';
import { blockRange, formatIp, parseIp, planLbIpam, selectorMatches, type LbPoolInput, type LbServiceInput } from './lb-ipam-allocator.js';

const pool = (name: string, spec: LbPoolInput['spec'], created = '2026-01-01T00:00:00Z'): LbPoolInput => ({ name, creationTimestamp: created, spec });
let seq = 0;
const svc = (name: string, extra: Partial<LbServiceInput> = {}): LbServiceInput => ({
  namespace: 'default', name, type: 'LoadBalancer', ipFamilies: ['IPv4'], ports: [{ port: 80, protocol: 'TCP' }],
  creationTimestamp: new Date(Date.UTC(2026, 0, 2, 0, 0, seq++)).toISOString(), ...extra,
});

describe('addresses and blocks', () => {
  it('parses and formats IPv4 and IPv6 (RFC 5952)', () => {
    for (const [i, o] of [['10.0.0.1', '10.0.0.1'], ['2004::0', '2004::'], ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], ['::ffff:1.2.3.4', '::ffff:102:304'], ['fe80::1', 'fe80::1'], ['::', '::']] as const) {
      expect(formatIp(parseIp(i)!)).toBe(o);
    }
    expect(parseIp('10.0.0.256')).toBeUndefined();
    expect(parseIp('nope')).toBeUndefined();
  });

  it('blocks: cidr (masked), start/stop, a single start; bad blocks throw ELBIPAMBLOCK', () => {
    const r = blockRange({ cidr: '10.0.10.7/24' });
    expect([formatIp(r.from), formatIp(r.to), r.fromCidr]).toEqual(['10.0.10.0', '10.0.10.255', true]);
    const s = blockRange({ start: '20.0.20.100', stop: '20.0.20.200' });
    expect(s.to.n - s.from.n).toBe(100n);
    expect(blockRange({ start: '1.2.3.4' }).to.n).toBe(parseIp('1.2.3.4')!.n);
    expect(() => blockRange({ start: '1.2.3.9', stop: '1.2.3.4' })).toThrow(expect.objectContaining({ code: 'ELBIPAMBLOCK' }));
    expect(() => blockRange({ start: '1.2.3.4', stop: '::1' })).toThrow(/different families/);
    expect(() => blockRange({ cidr: '10.0.0.0/33' })).toThrow(/invalid cidr/);
    expect(() => blockRange({})).toThrow(/neither cidr nor start/);
  });

  it('label selectors: matchLabels and the four operators', () => {
    const l = { a: '1', b: '2' };
    expect(selectorMatches(undefined, l)).toBe(true);
    expect(selectorMatches({}, l)).toBe(true);
    expect(selectorMatches({ matchLabels: { a: '1' } }, l)).toBe(true);
    expect(selectorMatches({ matchLabels: { a: '2' } }, l)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'In', values: ['0', '1'] }] }, l)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, l)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'c', operator: 'NotIn', values: ['1'] }] }, l)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'c', operator: 'Exists' }] }, l)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'c', operator: 'DoesNotExist' }] }, l)).toBe(true);
  });
});

describe('planLbIpam', () => {
  it('gives each LoadBalancer Service the next free IP of a matching pool; counts as Cilium does', () => {
    const p = planLbIpam([pool('blue', { blocks: [{ cidr: '10.0.10.0/30' }] })], [svc('a'), svc('b'), svc('cip', { type: 'ClusterIP' })]);
    expect(p.services.get('default/a')).toMatchObject({ responsible: true, ips: ['10.0.10.0'], pools: ['blue'], satisfied: true, reason: 'satisfied', message: '' });
    expect(p.services.get('default/b')?.ips).toEqual(['10.0.10.1']);
    expect(p.services.get('default/cip')?.responsible).toBe(false);
    expect(p.pools.get('blue')).toMatchObject({ total: 4n, used: 2n, available: 2n, ranges: ['10.0.10.0 - 10.0.10.3'] });
  });

  it('allowFirstLastIPs: No reserves the first and last IP of CIDR blocks (counted as used); not of /31 or ranges', () => {
    const p = planLbIpam([pool('p', { allowFirstLastIPs: 'No', blocks: [{ cidr: '10.0.0.0/30' }, { cidr: '10.0.1.0/31' }, { start: '10.0.2.0', stop: '10.0.2.3' }] })], [svc('a'), svc('b')]);
    expect(p.services.get('default/a')?.ips).toEqual(['10.0.0.1']);
    expect(p.services.get('default/b')?.ips).toEqual(['10.0.0.2']);
    expect(p.pools.get('p')).toMatchObject({ total: 10n, used: 4n, available: 6n });
  });

  it('exhaustion: out_of_ips, the Service holds nothing; no pool matching: no_pool', () => {
    const p = planLbIpam([pool('one', { blocks: [{ start: '10.0.0.5' }] })], [svc('a'), svc('b')]);
    expect(p.services.get('default/a')?.ips).toEqual(['10.0.0.5']);
    expect(p.services.get('default/b')).toMatchObject({ ips: [], satisfied: false, reason: 'out_of_ips' });
    expect(p.pools.get('one')).toMatchObject({ total: 1n, used: 1n, available: 0n });
    const q = planLbIpam([pool('sel', { blocks: [{ cidr: '10.0.0.0/24' }], serviceSelector: { matchLabels: { color: 'blue' } } })], [svc('a')]);
    expect(q.services.get('default/a')).toMatchObject({ satisfied: false, reason: 'no_pool', message: 'There are no enabled CiliumLoadBalancerIPPools that match this service' });
  });

  it('serviceSelector matches labels and io.kubernetes.service.namespace / .name', () => {
    const pools = [
      pool('blue', { blocks: [{ cidr: '10.0.1.0/24' }], serviceSelector: { matchLabels: { color: 'blue' } } }),
      pool('ns', { blocks: [{ cidr: '10.0.2.0/24' }], serviceSelector: { matchExpressions: [{ key: 'io.kubernetes.service.namespace', operator: 'In', values: ['tenant'] }] } }),
      pool('byname', { blocks: [{ cidr: '10.0.3.0/24' }], serviceSelector: { matchLabels: { 'io.kubernetes.service.name': 'special' } } }),
    ];
    const p = planLbIpam(pools, [svc('x', { labels: { color: 'blue' } }), svc('y', { namespace: 'tenant' }), svc('special'), svc('other')]);
    expect(p.services.get('default/x')?.pools).toEqual(['blue']);
    expect(p.services.get('tenant/y')?.pools).toEqual(['ns']);
    expect(p.services.get('default/special')?.pools).toEqual(['byname']);
    expect(p.services.get('default/other')?.reason).toBe('no_pool');
  });

  it('requested IPs: the annotation (and its legacy spelling) and spec.loadBalancerIP; conflicts and misses get their reasons', () => {
    const pools = [pool('p', { blocks: [{ cidr: '10.0.0.0/24' }] }), pool('q', { blocks: [{ cidr: '10.0.9.0/24' }], serviceSelector: { matchLabels: { x: 'y' } } })];
    const p = planLbIpam(pools, [
      svc('ann', { annotations: { 'lbipam.cilium.io/ips': '10.0.0.50, 10.0.0.51' } }),
      svc('legacy', { annotations: { 'io.cilium/lb-ipam-ips': '10.0.0.60' } }),
      svc('spec', { loadBalancerIP: '10.0.0.70' }),
      svc('taken', { annotations: { 'lbipam.cilium.io/ips': '10.0.0.50' } }),
      svc('outside', { annotations: { 'lbipam.cilium.io/ips': '192.168.0.1' } }),
      svc('mismatch', { annotations: { 'lbipam.cilium.io/ips': '10.0.9.1' } }),
      svc('generic'),
    ]);
    expect(p.services.get('default/ann')).toMatchObject({ ips: ['10.0.0.50', '10.0.0.51'], satisfied: true });
    expect(p.services.get('default/legacy')?.ips).toEqual(['10.0.0.60']);
    expect(p.services.get('default/spec')?.ips).toEqual(['10.0.0.70']);
    expect(p.services.get('default/taken')).toMatchObject({ ips: [], satisfied: false, reason: 'already_allocated' });
    expect(p.services.get('default/outside')).toMatchObject({ reason: 'no_pool', message: "No pool exists with a CIDR containing '192.168.0.1'" });
    expect(p.services.get('default/mismatch')?.reason).toBe('pool_selector_mismatch');
    expect(p.services.get('default/generic')?.ips).toEqual(['10.0.0.0']);
    expect(p.pools.get('p')?.used).toBe(5n);
  });

  it('sharing-key: compatible Services share one IP; same port, another key or ETP Local with another selector do not', () => {
    const sk = (k: string): Record<string, string> => ({ 'lbipam.cilium.io/sharing-key': k });
    const p = planLbIpam([pool('p', { blocks: [{ cidr: '10.0.0.0/24' }] })], [
      svc('web', { annotations: sk('k'), ports: [{ port: 80 }] }),
      svc('dns', { annotations: sk('k'), ports: [{ port: 53, protocol: 'UDP' }] }),
      svc('web2', { annotations: sk('k'), ports: [{ port: 80 }] }),
      svc('other', { annotations: sk('other'), ports: [{ port: 443 }] }),
      svc('local', { annotations: sk('k'), ports: [{ port: 8080 }], externalTrafficPolicy: 'Local', selector: { app: 'z' } }),
      svc('xns', { namespace: 'other', annotations: sk('k'), ports: [{ port: 9090 }] }),
      svc('req', { annotations: { ...sk('k'), 'lbipam.cilium.io/ips': '10.0.0.0' }, ports: [{ port: 81 }] }),
      svc('reqbad', { annotations: { 'lbipam.cilium.io/ips': '10.0.0.0' }, ports: [{ port: 82 }] }),
      svc('reqport', { annotations: { ...sk('k'), 'lbipam.cilium.io/ips': '10.0.0.0' }, ports: [{ port: 53, protocol: 'UDP' }] }),
    ]);
    const ip = (n: string): string[] | undefined => p.services.get(`${n.includes('/') ? n : `default/${n}`}`)?.ips;
    expect(ip('web')).toEqual(['10.0.0.0']);
    expect(ip('dns')).toEqual(['10.0.0.0']);
    expect(ip('web2')).toEqual(['10.0.0.1']);
    expect(ip('other')).toEqual(['10.0.0.2']);
    expect(ip('local')).toEqual(['10.0.0.3']);
    expect(ip('other/xns')).toEqual(['10.0.0.4']);
    expect(ip('req')).toEqual(['10.0.0.0']);
    expect(p.services.get('default/reqbad')?.reason).toBe('already_allocated');
    expect(p.services.get('default/reqport')?.message).toMatch(/incompatible service. Reason: same port and protocol \(53\/UDP\)/);
    // Cross-namespace sharing when both sides allow it.
    const q = planLbIpam([pool('p', { blocks: [{ cidr: '10.0.0.0/24' }] })], [
      svc('a', { annotations: { ...sk('k'), 'lbipam.cilium.io/sharing-cross-namespace': '*' } }),
      svc('b', { namespace: 'n2', ports: [{ port: 81 }], annotations: { ...sk('k'), 'lbipam.cilium.io/sharing-cross-namespace': 'default' } }),
    ]);
    expect(q.services.get('n2/b')?.ips).toEqual(['10.0.0.0']);
    expect(q.pools.get('p')?.used).toBe(1n);
  });

  it('restart: IPs held in status are kept (even out of allocation order); invalid ones are dropped and replaced', () => {
    const pools = [pool('p', { blocks: [{ cidr: '10.0.0.0/29' }] })];
    const p = planLbIpam(pools, [
      svc('old', { ingressIPs: ['10.0.0.5'] }),
      svc('new'),
      svc('foreign', { ingressIPs: ['172.16.0.1'] }),
      svc('dup', { ingressIPs: ['10.0.0.5'] }),
      svc('wrongreq', { ingressIPs: ['10.0.0.6'], annotations: { 'lbipam.cilium.io/ips': '10.0.0.7' } }),
    ]);
    expect(p.services.get('default/old')?.ips).toEqual(['10.0.0.5']);
    expect(p.services.get('default/new')?.ips).toEqual(['10.0.0.0']);
    expect(p.services.get('default/foreign')?.ips).toEqual(['10.0.0.1']);
    expect(p.services.get('default/dup')?.ips).toEqual(['10.0.0.2']);
    expect(p.services.get('default/wrongreq')?.ips).toEqual(['10.0.0.7']);
    // Same input again (as after a restart, with the statuses written): nothing moves.
    const again = planLbIpam(pools, [...p.services.values()].map((s) => svc(s.key.split('/')[1]!, { ingressIPs: s.ips, ...(s.key.endsWith('wrongreq') ? { annotations: { 'lbipam.cilium.io/ips': '10.0.0.7' } } : {}) })));
    for (const [k, s] of p.services) expect(again.services.get(k)?.ips, k).toEqual(s.ips);
  });

  it('a deleted Service frees its IP; a removed pool drops its IPs; a disabled pool keeps them but allocates none', () => {
    const pools = [pool('p', { blocks: [{ start: '10.0.0.1', stop: '10.0.0.2' }] })];
    expect(planLbIpam(pools, [svc('b', { ingressIPs: ['10.0.0.2'] }), svc('c')]).services.get('default/c')?.ips).toEqual(['10.0.0.1']);
    expect(planLbIpam([], [svc('b', { ingressIPs: ['10.0.0.2'] })]).services.get('default/b')).toMatchObject({ ips: [], reason: 'no_pool' });
    const d = planLbIpam([pool('p', { disabled: true, blocks: [{ start: '10.0.0.1', stop: '10.0.0.2' }] })], [svc('b', { ingressIPs: ['10.0.0.2'] }), svc('c')]);
    expect(d.services.get('default/b')?.ips).toEqual(['10.0.0.2']);
    expect(d.services.get('default/c')).toMatchObject({ ips: [], reason: 'no_pool' });
    expect(d.pools.get('p')).toMatchObject({ total: 2n, used: 1n, available: 1n });
  });

  it('overlapping pools: the newer one is conflicting and unused; a pool overlapping itself too; the older serves', () => {
    const p = planLbIpam([
      pool('newer', { blocks: [{ cidr: '10.0.0.0/24' }] }, '2026-01-02T00:00:00Z'),
      pool('older', { blocks: [{ start: '10.0.0.200', stop: '10.0.0.201' }] }, '2026-01-01T00:00:00Z'),
      pool('self', { blocks: [{ cidr: '10.9.0.0/24' }, { start: '10.9.0.5' }] }),
    ], [svc('a'), svc('b'), svc('c')]);
    expect(p.pools.get('newer')?.conflict).toBe("Pool conflicts since range '10.0.0.0 - 10.0.0.255' overlaps range '10.0.0.200 - 10.0.0.201' from IP Pool 'older'");
    expect(p.pools.get('older')?.conflict).toBeUndefined();
    expect(p.pools.get('self')?.conflict).toMatch(/from IP Pool 'self'/);
    expect(p.services.get('default/a')?.ips).toEqual(['10.0.0.200']);
    expect(p.services.get('default/b')?.ips).toEqual(['10.0.0.201']);
    expect(p.services.get('default/c')?.reason).toBe('out_of_ips');
    expect(p.pools.get('newer')).toMatchObject({ total: 256n, used: 0n });
  });

  it('a pool with a bad block is invalid (message with code and hint), unused, and does not break the others', () => {
    const p = planLbIpam([pool('bad', { blocks: [{ start: '10.0.0.9', stop: '10.0.0.1' }] }), pool('good', { cidrs: [{ cidr: '10.1.0.0/24' }] })], [svc('a')]);
    expect(p.pools.get('bad')?.invalid).toMatch(/start 10.0.0.9 is after stop 10.0.0.1 \(ELBIPAMBLOCK: swap start and stop\)/);
    expect(p.pools.get('bad')?.total).toBe(0n);
    expect(p.services.get('default/a')?.ips).toEqual(['10.1.0.0']);
  });

  it('loadBalancerClass: unset and the Cilium classes are ours, others are not; defaultIpam=false leaves classless ones', () => {
    const pools = [pool('p', { blocks: [{ cidr: '10.0.0.0/24' }] })];
    const p = planLbIpam(pools, [svc('none'), svc('l2', { loadBalancerClass: 'io.cilium/l2-announcer' }), svc('bgp', { loadBalancerClass: 'io.cilium/bgp-control-plane' }), svc('metal', { loadBalancerClass: 'metallb.io/metallb' })]);
    expect(['none', 'l2', 'bgp', 'metal'].map((n) => p.services.get(`default/${n}`)?.responsible)).toEqual([true, true, true, false]);
    expect(planLbIpam(pools, [svc('none')], { defaultIpam: false }).services.get('default/none')?.responsible).toBe(false);
  });

  it('many Services: each gets a distinct IP, in order, around the ones already held', () => {
    const held = new Set(['10.0.0.3', '10.0.1.0']);
    const svcs = Array.from({ length: 3000 }, (_, i) => svc(`s${i}`, i === 10 ? { ingressIPs: ['10.0.0.3'] } : i === 20 ? { ingressIPs: ['10.0.1.0'] } : {}));
    const p = planLbIpam([pool('big', { blocks: [{ cidr: '10.0.0.0/16' }] })], svcs);
    const ips = [...p.services.values()].map((s) => s.ips[0]!);
    expect(new Set(ips).size).toBe(3000);
    expect(p.services.get('default/s0')?.ips).toEqual(['10.0.0.0']);
    expect(p.services.get('default/s3')?.ips).toEqual(['10.0.0.4']);
    for (const h of held) expect(ips.filter((x) => x === h)).toHaveLength(1);
    expect(p.pools.get('big')).toMatchObject({ used: 3000n, available: 65536n - 3000n });
  });

  it('IP families: IPv6-only Services get IPv6, dual-stack both (when enabled)', () => {
    const pools = [pool('p', { blocks: [{ cidr: '10.0.0.0/24' }, { cidr: '2004::/64' }] })];
    const p = planLbIpam(pools, [svc('v6', { ipFamilies: ['IPv6'] }), svc('ds', { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' })], { ipv4: true, ipv6: true });
    expect(p.services.get('default/v6')?.ips).toEqual(['2004::']);
    expect(p.services.get('default/ds')?.ips).toEqual(['10.0.0.0', '2004::1']);
    expect(p.pools.get('p')?.total).toBe(256n + (1n << 64n));
  });
});
