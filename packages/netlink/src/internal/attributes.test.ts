import { describe, expect, it } from 'vitest';
import { AttrWriter, attrString, attrU32, parseAttrs } from './attributes.js';

describe('AttrWriter / parseAttrs', () => {
  it('pads every attribute to 4 bytes and nests with correct lengths', () => {
    const body = new AttrWriter()
      .raw(Buffer.from([1, 2, 3])) // padded to 4
      .string(3, 'abcde') // 4 + 6 = 10 -> 12
      .begin(18)
      .string(1, 'veth') // 4 + 5 = 9 -> 12
      .begin(2)
      .u32(4, 1400) // 8
      .end()
      .end()
      .u8(9, 7) // 5 -> 8
      .finish();
    expect(body.length).toBe(4 + 12 + (4 + 12 + (4 + 8)) + 8);
    expect([...body.subarray(0, 4)]).toEqual([1, 2, 3, 0]);
    const top = parseAttrs(body, 4);
    expect(attrString(top.get(3))).toBe('abcde');
    const info = top.get(18);
    expect(info?.length).toBe(24);
    const inner = parseAttrs(info ?? Buffer.alloc(0));
    expect(attrString(inner.get(1))).toBe('veth');
    expect(attrU32(parseAttrs(inner.get(2) ?? Buffer.alloc(0)).get(4))).toBe(1400);
    expect(top.get(9)?.[0]).toBe(7);
    // the nest's own header says 4 + 24 bytes
    expect(body.readUInt16LE(4 + 12)).toBe(28);
  });

  it('stops at a truncated attribute instead of reading past the end', () => {
    const b = Buffer.from([8, 0, 1, 0, 1, 2, 3, 4, 200, 0, 2, 0, 0, 0]);
    const m = parseAttrs(b);
    expect(m.size).toBe(1);
    expect(attrU32(m.get(1))).toBe(0x04030201);
  });
});
