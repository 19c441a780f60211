import { describe, expect, it } from 'vitest';
import { parseRemoteNodes } from './remote-node.js';

describe('remote nodes (--remote-nodes-file)', () => {
  it('accepts an array or {nodes}, normalises IPv4 CIDRs and drops IPv6 ones', () => {
    const want = [{ name: 'n2', ip: '192.168.50.2', podCIDRs: ['10.1.2.0/24'] }];
    expect(parseRemoteNodes([{ name: 'n2', ip: '192.168.50.2', podCIDRs: ['10.1.2.0/24', 'fd00:1::/64'] }])).toEqual(want);
    expect(parseRemoteNodes({ nodes: want })).toEqual(want);
    expect(parseRemoteNodes([{ name: 'n3', ip: '192.168.50.3' }])).toEqual([{ name: 'n3', ip: '192.168.50.3', podCIDRs: [] }]);
  });

  it('explains what is wrong', () => {
    expect(() => parseRemoteNodes({})).toThrow(/JSON array/);
    expect(() => parseRemoteNodes([{ name: 'n2', ip: '10.0.0.300', podCIDRs: [] }])).toThrow(/ip: Invalid ip/);
    expect(() => parseRemoteNodes([{ name: 'n2', ip: '10.0.0.3', podCIDRs: ['10.1.2.1/24'] }])).toThrow(/host bits set/);
    expect(() => parseRemoteNodes([{ name: 'n2', ip: '10.0.0.3', podCIDR: [] }])).toThrow(/Unrecognized key/);
    const dup = { name: 'n2', ip: '10.0.0.3', podCIDRs: [] };
    expect(() => parseRemoteNodes([dup, dup])).toThrow(/listed twice/);
    try {
      parseRemoteNodes([{ name: '', ip: '10.0.0.3' }]);
    } catch (e) {
      expect(e).toMatchObject({ code: 'NODE_INVALID', hint: expect.stringMatching(/podCIDRs/) });
    }
  });
});
