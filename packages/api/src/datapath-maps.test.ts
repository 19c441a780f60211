import { describe, expect, it } from 'vitest';
import {
  LB_MAGLEV_LUT_SIZE,
  affinityClientIdOf,
  lb4AffinityKeyCodec,
  lb4BackendCodec,
  lb4KeyCodec,
  lb4MaglevCodec,
  lb4ReverseNatCodec,
  lb4ServiceCodec,
  lb4SkRnatKeyCodec,
  lb4SkRnatValCodec,
  lbAffinityValCodec,
  nat4EntryCodec,
  u16KeyCodec,
  u32KeyCodec,
  type Codec,
} from './datapath-maps.js';

function roundTrip<T>(c: Codec<T>, v: T): { back: T; buf: Buffer } {
  const buf = Buffer.alloc(c.size + 8, 0xaa); // dirty bytes around and inside: padding must be written
  c.encode(v, buf, 4);
  return { back: c.decode(buf, 4), buf: buf.subarray(4, 4 + c.size) };
}

describe('LB map codecs (bpf/lib/common.h "load balancing")', () => {
  it('have the C sizes', () => {
    expect(lb4KeyCodec.size).toBe(12);
    expect(lb4ServiceCodec.size).toBe(16);
    expect(lb4BackendCodec.size).toBe(12);
    expect(lb4ReverseNatCodec.size).toBe(8);
    expect(lb4AffinityKeyCodec.size).toBe(16);
    expect(lbAffinityValCodec.size).toBe(16);
    expect(lb4MaglevCodec.size).toBe(LB_MAGLEV_LUT_SIZE * 4);
    expect(lb4SkRnatKeyCodec.size).toBe(16);
    expect(lb4SkRnatValCodec.size).toBe(8);
    expect(nat4EntryCodec.size).toBe(16);
    expect(u32KeyCodec.size).toBe(4);
    expect(u16KeyCodec.size).toBe(2);
  });

  it('lb4_key: VIP and port in network order, slot/scope/proto in place, pad zeroed', () => {
    const v = { address: '10.96.0.10', dport: 8080, backendSlot: 3, proto: 6, scope: 1 };
    const { back, buf } = roundTrip(lb4KeyCodec, v);
    expect(back).toEqual(v);
    expect(buf.toString('hex')).toBe('0a60000a' + '1f90' + '0300' + '06' + '01' + '0000');
  });

  it('lb4_service', () => {
    const v = { backendId: 0x01020304, affinityTimeout: 10800, count: 7, revNatIndex: 65535, flags: 0xa1, flags2: 3 };
    const { back, buf } = roundTrip(lb4ServiceCodec, v);
    expect(back).toEqual(v);
    expect(buf.subarray(14).toString('hex')).toBe('0000');
  });

  it('lb4_backend', () => {
    const v = { address: '10.0.1.5', port: 80, proto: 17, state: 1, flags: 1 };
    const { back, buf } = roundTrip(lb4BackendCodec, v);
    expect(back).toEqual(v);
    expect(buf.toString('hex')).toBe('0a000105' + '0050' + '11' + '01' + '01' + '000000');
  });

  it('lb4_reverse_nat, affinity key/value, sk_rnat, nat4_entry, ids', () => {
    expect(roundTrip(lb4ReverseNatCodec, { address: '10.96.0.1', port: 443 }).back).toEqual({ address: '10.96.0.1', port: 443 });
    const ak = { clientId: affinityClientIdOf('10.0.0.7'), revNatIndex: 9, netnsCookie: 0 };
    const r = roundTrip(lb4AffinityKeyCodec, ak);
    expect(r.back).toEqual(ak);
    expect(r.buf.subarray(0, 8).toString('hex')).toBe('0a00000700000000');
    expect(r.buf.subarray(11).toString('hex')).toBe('0000000000');
    expect(roundTrip(lbAffinityValCodec, { lastUsed: 123456789012345n, backendId: 42 }).back).toEqual({ lastUsed: 123456789012345n, backendId: 42 });
    const sk = { cookie: 0xfedcba9876543210n, address: '10.0.3.3', port: 53 };
    expect(roundTrip(lb4SkRnatKeyCodec, sk).back).toEqual(sk);
    const sv = { address: '10.96.0.10', port: 53, revNatIndex: 12 };
    expect(roundTrip(lb4SkRnatValCodec, sv).back).toEqual(sv);
    const ne = { toAddr: '192.168.5.1', toPort: 40000, created: 99n };
    const nr = roundTrip(nat4EntryCodec, ne);
    expect(nr.back).toEqual(ne);
    expect(nr.buf.subarray(6, 8).toString('hex')).toBe('0000');
    expect(roundTrip(u32KeyCodec, 4000000000).back).toBe(4000000000);
    expect(roundTrip(u16KeyCodec, 65535).back).toBe(65535);
  });

  it('lb4_maglev: a whole table, and refuses a table of the wrong size', () => {
    const t = new Uint32Array(LB_MAGLEV_LUT_SIZE).map((_, i) => (i % 5) + 1);
    const { back } = roundTrip(lb4MaglevCodec, t);
    expect(back).toEqual(t);
    expect(() => lb4MaglevCodec.encode(new Uint32Array(10), Buffer.alloc(lb4MaglevCodec.size), 0)).toThrow(/16381/);
  });
});
