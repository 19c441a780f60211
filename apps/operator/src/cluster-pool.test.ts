import { describe, expect, it } from 'vitest';
import { ClusterPoolAllocator, IpamError, parseCidr } from './cluster-pool.js';

describe('ClusterPoolAllocator', () => {
  it('hands out distinct /mask CIDRs in order and keeps one per owner', () => {
    const a = new ClusterPoolAllocator(['10.0.0.0/16'], 24);
    expect(a.allocate('n1')).toBe('10.0.0.0/24');
    expect(a.allocate('n2')).toBe('10.0.1.0/24');
    expect(a.allocate('n1')).toBe('10.0.0.0/24');
    expect(a.ownerOf('10.0.1.0/24')).toBe('n2');
    expect(a.status()).toEqual([{ cidr: '10.0.0.0/16', total: 256, used: 2 }]);
  });

  it('release frees the CIDR for the next node, nothing else moves', () => {
    const a = new ClusterPoolAllocator(['10.0.0.0/16'], 24);
    a.allocate('n1');
    a.allocate('n2');
    a.allocate('n3');
    expect(a.release('n2')).toBe('10.0.1.0/24');
    expect(a.release('n2')).toBeUndefined();
    expect(a.allocate('n4')).toBe('10.0.1.0/24');
    expect(a.cidrOf('n3')).toBe('10.0.2.0/24');
  });

  it('re-derives allocations after a restart: existing CIDRs are kept, new ones avoid them', () => {
    const before = new ClusterPoolAllocator(['10.0.0.0/16'], 24);
    const nodes = ['a', 'b', 'c'].map((n) => [n, before.allocate(n)] as const);
    before.release('b');
    const after = new ClusterPoolAllocator(['10.0.0.0/16'], 24);
    for (const [n, c] of nodes) if (n !== 'b') expect(after.occupy(c, n)).toBe('ok');
    expect(after.allocate('a')).toBe('10.0.0.0/24');
    expect(after.allocate('c')).toBe('10.0.2.0/24');
    expect(after.allocate('d')).toBe('10.0.1.0/24');
    expect(after.allocate('e')).toBe('10.0.3.0/24');
  });

  it('occupy reports conflicts and foreign CIDRs instead of assigning twice', () => {
    const a = new ClusterPoolAllocator(['10.0.0.0/16'], 24);
    expect(a.occupy('10.0.5.0/24', 'n1')).toBe('ok');
    expect(a.occupy('10.0.5.0/24', 'n2')).toBe('conflict');
    expect(a.occupy('10.0.6.0/24', 'n1')).toBe('conflict');
    expect(a.occupy('192.168.0.0/24', 'n3')).toBe('foreign');
    expect(a.occupy('10.0.7.0/25', 'n3')).toBe('foreign');
    expect(a.allocate('n2')).toBe('10.0.0.0/24');
  });

  it('exhaustion throws EIPAMEXHAUSTED with a hint; a release makes room again', () => {
    const a = new ClusterPoolAllocator(['10.1.0.0/23'], 24);
    a.allocate('n1');
    a.allocate('n2');
    let err: unknown;
    try {
      a.allocate('n3');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IpamError);
    expect((err as IpamError).code).toBe('EIPAMEXHAUSTED');
    expect((err as IpamError).hint).toMatch(/cluster-pool-ipv4-cidr/);
    a.release('n1');
    expect(a.allocate('n3')).toBe('10.1.0.0/24');
  });

  it('uses the second CIDR of the list once the first is full', () => {
    const a = new ClusterPoolAllocator(['10.1.0.0/24', '10.2.0.0/23'], 24);
    expect(a.allocate('n1')).toBe('10.1.0.0/24');
    expect(a.allocate('n2')).toBe('10.2.0.0/24');
    expect(a.allocate('n3')).toBe('10.2.1.0/24');
    expect(() => a.allocate('n4')).toThrow(/exhausted/);
    expect(a.occupy('10.2.1.0/24', 'n3')).toBe('ok');
  });

  it('rejects bad configuration with codes', () => {
    expect(() => new ClusterPoolAllocator(['10.0.0.1/16'], 24)).toThrow(/host bits/);
    expect(() => new ClusterPoolAllocator(['10.0.0.0/25'], 24)).toThrow(/smaller than a \/24/);
    expect(() => new ClusterPoolAllocator(['10.0.0.0/8', '10.1.0.0/16'], 24)).toThrow(/overlap/);
    expect(() => new ClusterPoolAllocator([], 24)).toThrow(/no pool/);
    expect(() => new ClusterPoolAllocator(['10.0.0.0/8'], 33)).toThrow(/mask size/);
    expect(() => parseCidr('10.0.0/8')).toThrow(/invalid IPv4 CIDR/);
  });
});
