import { describe, expect, it } from 'vitest';
import { formatMac, parseMac, randomMac } from './mac.js';
import { NetlinkError } from './netlink-error.js';

describe('MAC helpers', () => {
  it('parses and formats', () => {
    expect([...parseMac('02:AB:cd:00:01:ff')]).toEqual([2, 0xab, 0xcd, 0, 1, 0xff]);
    expect([...parseMac('02-ab-cd-00-01-ff')]).toEqual([2, 0xab, 0xcd, 0, 1, 0xff]);
    expect(formatMac(Buffer.from([2, 0xab, 0xcd, 0, 1, 0xff]))).toBe('02:ab:cd:00:01:ff');
    expect(formatMac(Buffer.alloc(0))).toBe('');
  });

  it.each(['', '02:ab:cd:00:01', '02:ab:cd:00:01:ff:00', '02ab:cd:00:01:ff', 'zz:ab:cd:00:01:ff', '2:ab:cd:0:1:ff'])('rejects %j', (bad) => {
    let err: unknown;
    try {
      parseMac(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NetlinkError);
    expect((err as NetlinkError).code).toBe('NETLINK_INVALID_ARGUMENT');
  });

  it('makes locally administered unicast random MACs', () => {
    for (let i = 0; i < 50; i++) {
      const b = parseMac(randomMac());
      expect((b[0] ?? 0) & 0x03).toBe(0x02);
    }
  });
});
