/**
 * Codecs: fixed-size binary layouts for map keys and values. Sizes are checked against the map and its
 * BTF when a TypedMap is made (EBPF_CODEC_SIZE), so a layout change in C cannot silently corrupt a map.
 */
import { BpfError } from './errors.js';

export interface Codec<T> {
  /** Encoded size in bytes (sizeof the C type). */
  readonly size: number;
  /** Optional BTF type name (e.g. 'endpoint_key'): checked against the map's BTF when present. */
  readonly name?: string;
  encode(v: T, buf: Buffer, off: number): void;
  decode(buf: Buffer, off: number): T;
}

export type CodecType<C> = C extends Codec<infer T> ? T : never;

function badValue(what: string, v: unknown): BpfError {
  return new BpfError('EBPF_CODEC_VALUE', `cannot encode ${String(v)} as ${what}`, {
    hint: `pass a value that fits ${what}`,
  });
}

function intCodec(
  name: string,
  size: number,
  max: number,
  min: number,
  write: (b: Buffer, v: number, o: number) => void,
  read: (b: Buffer, o: number) => number,
): Codec<number> {
  return {
    size,
    encode(v, buf, off) {
      if (!Number.isInteger(v) || v > max || v < min) throw badValue(name, v);
      write(buf, v, off);
    },
    decode: (buf, off) => read(buf, off),
  };
}

/** Host-order (little-endian) unsigned integers. */
export const u8 = intCodec('u8', 1, 0xff, 0, (b, v, o) => b.writeUInt8(v, o), (b, o) => b.readUInt8(o));
export const u16 = intCodec('u16', 2, 0xffff, 0, (b, v, o) => b.writeUInt16LE(v, o), (b, o) => b.readUInt16LE(o));
export const u32 = intCodec('u32', 4, 0xffffffff, 0, (b, v, o) => b.writeUInt32LE(v, o), (b, o) => b.readUInt32LE(o));
export const i32 = intCodec('i32', 4, 0x7fffffff, -0x80000000, (b, v, o) => b.writeInt32LE(v, o), (b, o) => b.readInt32LE(o));
/** Network-order (big-endian) integers, e.g. L4 ports as stored in common.h. */
export const be16 = intCodec('be16', 2, 0xffff, 0, (b, v, o) => b.writeUInt16BE(v, o), (b, o) => b.readUInt16BE(o));
export const be32 = intCodec('be32', 4, 0xffffffff, 0, (b, v, o) => b.writeUInt32BE(v, o), (b, o) => b.readUInt32BE(o));

/** Host-order u64 as bigint (exact). */
export const u64: Codec<bigint> = {
  size: 8,
  encode(v, buf, off) {
    if (typeof v !== 'bigint' || v < 0n || v > 0xffff_ffff_ffff_ffffn) throw badValue('u64', v);
    buf.writeBigUInt64LE(v, off);
  },
  decode: (buf, off) => buf.readBigUInt64LE(off),
};

/** Host-order u64 as number (exact up to 2^53; use u64 for counters that may pass it). */
export const u64Number: Codec<number> = {
  size: 8,
  encode(v, buf, off) {
    if (!Number.isSafeInteger(v) || v < 0) throw badValue('u64 (number)', v);
    buf.writeUInt32LE(v % 0x1_0000_0000, off);
    buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), off + 4);
  },
  decode: (buf, off) => buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 0x1_0000_0000,
};

/** IPv4 address as a dotted string, stored in network order (4 bytes, as in the packet). */
export const ipv4: Codec<string> = {
  size: 4,
  encode(v, buf, off) {
    const parts = v.split('.');
    if (parts.length !== 4) throw badValue('ipv4', v);
    for (let i = 0; i < 4; i++) {
      const p = parts[i]!;
      const n = Number(p);
      if (p === '' || !Number.isInteger(n) || n < 0 || n > 255) throw badValue('ipv4', v);
      buf[off + i] = n;
    }
  },
  decode: (buf, off) => `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`,
};

/** MAC address 'aa:bb:cc:dd:ee:ff' (6 bytes). */
export const mac: Codec<string> = {
  size: 6,
  encode(v, buf, off) {
    const parts = v.split(/[:-]/);
    if (parts.length !== 6) throw badValue('mac', v);
    for (let i = 0; i < 6; i++) {
      const p = parts[i]!;
      if (!/^[0-9a-fA-F]{1,2}$/.test(p)) throw badValue('mac', v);
      buf[off + i] = parseInt(p, 16);
    }
  },
  decode(buf, off) {
    let s = '';
    for (let i = 0; i < 6; i++) s += (i ? ':' : '') + buf[off + i]!.toString(16).padStart(2, '0');
    return s;
  },
};

/** Raw bytes of a fixed size (copied on decode). */
export function bytes(size: number): Codec<Buffer> {
  return {
    size,
    encode(v, buf, off) {
      if (v.length !== size) throw badValue(`${size} bytes`, `a buffer of ${v.length} bytes`);
      v.copy(buf, off);
    },
    decode: (buf, off) => Buffer.from(buf.subarray(off, off + size)),
  };
}

/** Zero-sized/ignored padding of `size` bytes (encodes zeros, decodes undefined). */
export function pad(size: number): Codec<undefined> {
  return {
    size,
    encode(_v, buf, off) {
      buf.fill(0, off, off + size);
    },
    decode: () => undefined,
  };
}

/** A fixed-length array of one codec, packed with the given stride (default: the element size). */
export function arrayCodec<T>(elem: Codec<T>, length: number, stride = elem.size): Codec<T[]> {
  if (stride < elem.size) throw new BpfError('EBPF_CODEC_SIZE', `array stride ${stride} < element size ${elem.size}`);
  return {
    size: stride * length,
    encode(v, buf, off) {
      if (v.length !== length) throw badValue(`an array of ${length}`, `an array of ${v.length}`);
      if (stride !== elem.size) buf.fill(0, off, off + stride * length);
      for (let i = 0; i < length; i++) elem.encode(v[i]!, buf, off + i * stride);
    },
    decode(buf, off) {
      const out = new Array<T>(length);
      for (let i = 0; i < length; i++) out[i] = elem.decode(buf, off + i * stride);
      return out;
    },
  };
}

export type FieldSpec = Record<string, readonly [offset: number, codec: Codec<any>]>;
export type StructOf<F extends FieldSpec> = {
  [K in keyof F]: F[K] extends readonly [number, Codec<infer T>] ? T : never;
};

/**
 * A C struct: `structCodec({ ifindex: [0, u32], ep_id: [4, u16], mac: [8, mac] }, 24, 'endpoint_info')`.
 * Fields are placed at their offsets; bytes not covered (padding) are encoded as zero. The name, when
 * given, is checked against the map's BTF type name by BpfMap.typed().
 */
export function structCodec<F extends FieldSpec>(fields: F, size: number, name?: string): Codec<StructOf<F>> {
  const list = Object.entries(fields).map(([field, [offset, codec]]) => ({ field, offset, codec }));
  for (const f of list) {
    if (!Number.isInteger(f.offset) || f.offset < 0 || f.offset + f.codec.size > size) {
      throw new BpfError(
        'EBPF_CODEC_SIZE',
        `struct${name ? ` ${name}` : ''}: field ${f.field} at ${f.offset} (+${f.codec.size}) does not fit in ${size} bytes`,
        { hint: 'fix the offsets to match the C layout (pahole or `bpftool btf dump` show it)' },
      );
    }
  }
  const sorted = [...list].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (prev.offset + prev.codec.size > cur.offset) {
      throw new BpfError('EBPF_CODEC_SIZE', `struct${name ? ` ${name}` : ''}: fields ${prev.field} and ${cur.field} overlap`, {
        hint: 'fix the offsets to match the C layout',
      });
    }
  }
  const covered = sorted.reduce((n, f) => n + f.codec.size, 0);
  const needsZero = covered !== size;
  const codec: Codec<StructOf<F>> = {
    size,
    encode(v, buf, off) {
      if (needsZero) buf.fill(0, off, off + size);
      const rec = v as Record<string, unknown>;
      for (const f of list) f.codec.encode(rec[f.field], buf, off + f.offset);
    },
    decode(buf, off) {
      const out: Record<string, unknown> = {};
      for (const f of list) out[f.field] = f.codec.decode(buf, off + f.offset);
      return out as StructOf<F>;
    },
  };
  return name === undefined ? codec : { ...codec, name };
}

/** Name a codec's BTF type (checked by BpfMap.typed()). */
export function named<T>(codec: Codec<T>, name: string): Codec<T> {
  return { size: codec.size, name, encode: codec.encode.bind(codec), decode: codec.decode.bind(codec) };
}
