import { describe, expect, it } from 'vitest';
import { formatIp, parseCidr, parseIp } from './ip-address.js';
import { NetlinkError } from './netlink-error.js';

describe('parseIp / formatIp', () => {
  it('round-trips IPv4', () => {
    const p = parseIp('10.0.255.1');
    expect(p.family).toBe(4);
    expect([...p.bytes]).toEqual([10, 0, 255, 1]);
    expect(formatIp(p.bytes)).toBe('10.0.255.1');
  });

  it.each([
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::1', 'fe80::1'],
    ['FD00:0:0:0:0:0:0:2', 'fd00::2'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0001:0000:0000:0000:0001', '2001:db8:0:1::1'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['::ffff:10.1.2.3', '::ffff:10.1.2.3'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
  ])('IPv6 %s -> %s', (input, canonical) => {
    const p = parseIp(input);
    expect(p.family).toBe(6);
    expect(p.bytes.length).toBe(16);
    expect(formatIp(p.bytes)).toBe(canonical);
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-1', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '1:2:3:4:5:6:7::8'])(
    'rejects %j with NETLINK_INVALID_ARGUMENT',
    (bad) => {
      let err: unknown;
      try {
        parseIp(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NetlinkError);
      expect((err as NetlinkError).code).toBe('NETLINK_INVALID_ARGUMENT');
      expect((err as NetlinkError).hint).toMatch(/10\.0\.0\.1/);
    },
  );
});

describe('parseCidr', () => {
  it('parses prefixes, bare hosts and default', () => {
    expect(parseCidr('10.1.0.0/16')).toMatchObject({ family: 4, prefixLen: 16 });
    expect(parseCidr('10.1.0.7')).toMatchObject({ family: 4, prefixLen: 32 });
    expect(parseCidr('default')).toMatchObject({ family: 4, prefixLen: 0 });
    expect(parseCidr('fd00::/8')).toMatchObject({ family: 6, prefixLen: 8 });
    expect(parseCidr('fd00::1')).toMatchObject({ family: 6, prefixLen: 128 });
  });

  it.each(['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/x', 'fd00::/129', '/24', 'foo/8'])('rejects %j', (bad) => {
    expect(() => parseCidr(bad)).toThrow(NetlinkError);
  });
});
