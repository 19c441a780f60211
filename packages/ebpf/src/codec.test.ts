import { describe, expect, it } from 'vitest';
import { arrayCodec, be16, bytes, i32, ipv4, mac, pad, structCodec, u16, u32, u64, u64Number, u8 } from './codec.js';
import { BpfError } from './errors.js';

function roundTrip<T>(c: { size: number; encode(v: T, b: Buffer, o: number): void; decode(b: Buffer, o: number): T }, v: T): Buffer {
  const b = Buffer.alloc(c.size + 3, 0xaa);
  c.encode(v, b, 3);
  expect(c.decode(b, 3)).toEqual(v);
  return b.subarray(3);
}

describe('codecs', () => {
  it('integers in host and network order', () => {
    expect(roundTrip(u8, 255).toString('hex')).toBe('ff');
    expect(roundTrip(u16, 0x1234).toString('hex')).toBe('3412');
    expect(roundTrip(be16, 0x1234).toString('hex')).toBe('1234');
    expect(roundTrip(u32, 0xdeadbeef).toString('hex')).toBe('efbeadde');
    expect(roundTrip(i32, -2).toString('hex')).toBe('feffffff');
    expect(roundTrip(u64, 0x0102030405060708n).toString('hex')).toBe('0807060504030201');
    expect(roundTrip(u64Number, 2 ** 40 + 5).toString('hex')).toBe('0500000000010000');
    for (const [c, v] of [
      [u8, 256],
      [u16, -1],
      [u32, 2 ** 32],
      [u32, 1.5],
    ] as const) {
      expect(() => c.encode(v, Buffer.alloc(8), 0)).toThrow(BpfError);
    }
    expect(() => u64.encode(-1n, Buffer.alloc(8), 0)).toThrow(BpfError);
  });

  it('ipv4 in network order, mac, bytes', () => {
    expect(roundTrip(ipv4, '10.0.1.254').toString('hex')).toBe('0a0001fe');
    expect(roundTrip(mac, '02:00:0a:ff:00:01').toString('hex')).toBe('02000aff0001');
    expect(roundTrip(bytes(3), Buffer.from([1, 2, 3])).toString('hex')).toBe('010203');
    for (const bad of ['10.0.0', '10.0.0.256', '1.2.3.x', '']) expect(() => ipv4.encode(bad, Buffer.alloc(4), 0)).toThrow(BpfError);
    expect(() => mac.encode('02:00:0a:ff:00', Buffer.alloc(6), 0)).toThrow(BpfError);
  });

  it('structs zero their padding and arrays honour the stride', () => {
    // struct endpoint_info from bpf/lib/common.h
    const endpointInfo = structCodec(
      { ifindex: [0, u32], epId: [4, u16], flags: [6, u16], mac: [8, mac], nodeMac: [14, mac], secId: [20, u32] },
      24,
      'endpoint_info',
    );
    expect(endpointInfo.name).toBe('endpoint_info');
    const v = { ifindex: 7, epId: 42, flags: 0, mac: '02:00:00:00:00:01', nodeMac: '02:00:00:00:00:02', secId: 0 };
    const b = roundTrip(endpointInfo, v);
    expect(b.toString('hex')).toBe('07000000' + '2a00' + '0000' + '020000000001' + '020000000002' + '00000000');
    const withPad = structCodec({ a: [0, u8], b: [4, u32], _: [1, pad(3)] }, 8);
    expect(roundTrip(withPad, { a: 1, b: 2, _: undefined }).toString('hex')).toBe('0100000002000000');
    const arr = arrayCodec(u32, 3, 8);
    expect(arr.size).toBe(24);
    expect(roundTrip(arr, [1, 2, 3]).toString('hex')).toBe('010000000000000002000000000000000300000000000000');
    expect(() => arr.encode([1], Buffer.alloc(24), 0)).toThrow(BpfError);
  });
});
