import { describe, expect, it } from 'vitest';
import { HostScopeIpam, IpamError } from './host-scope-ipam.js';
import { parseCidr } from './cidr.js';

describe('HostScopeIpam', () => {
  it('skips network, router and broadcast addresses', () => {
    const ipam = new HostScopeIpam('10.9.0.0/29');
    expect(ipam.routerIp).toBe('10.9.0.1');
    expect(ipam.capacity).toBe(5);
    const got = Array.from({ length: 5 }, (_, i) => ipam.allocateNext(`o${i}`));
    expect(got).toEqual(['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
    expect(() => ipam.allocateNext('x')).toThrowError(IpamError);
  });

  it('does not hand a released address out again at once', () => {
    const ipam = new HostScopeIpam('10.9.0.0/24');
    const a = ipam.allocateNext('a');
    ipam.release(a);
    expect(ipam.allocateNext('b')).not.toBe(a);
  });

  it('restores specific addresses and refuses double ownership', () => {
    const ipam = new HostScopeIpam('10.9.0.0/24');
    ipam.allocate('10.9.0.7', 'a');
    expect(() => ipam.allocate('10.9.0.7', 'b')).toThrowError(/already allocated/);
    expect(() => ipam.allocate('10.9.1.7', 'b')).toThrowError(/not an allocatable/);
    expect(() => ipam.release('10.9.0.8')).toThrowError(/not allocated/);
    expect(ipam.list()).toEqual([{ ip: '10.9.0.7', owner: 'a' }]);
  });

  it('rejects malformed CIDRs with a hint', () => {
    expect(() => parseCidr('10.9.0.1/24')).toThrowError(/host bits set/);
    expect(() => parseCidr('10.9.0.0/33')).toThrowError(/prefix/);
    expect(() => parseCidr('banana')).toThrowError(/invalid CIDR/);
  });
});
