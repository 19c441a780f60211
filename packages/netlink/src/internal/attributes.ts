// rtattr encoding: { u16 len; u16 type; payload; pad to 4 }.
import { NLA_TYPE_MASK } from './constants.js';

export const align4 = (n: number): number => (n + 3) & ~3;

/** Builds a message body: a fixed struct followed by (possibly nested) attributes, 4-byte aligned. */
export class AttrWriter {
  private buf = Buffer.alloc(512);
  private len = 0;
  private readonly open: number[] = [];

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Appends raw bytes (a fixed struct such as ifinfomsg), padded to 4. */
  raw(data: Uint8Array): this {
    const n = align4(data.length);
    this.reserve(n);
    this.buf.set(data, this.len);
    this.buf.fill(0, this.len + data.length, this.len + n);
    this.len += n;
    return this;
  }

  bytes(type: number, data: Uint8Array): this {
    const total = 4 + data.length;
    this.reserve(align4(total));
    this.buf.writeUInt16LE(total, this.len);
    this.buf.writeUInt16LE(type, this.len + 2);
    this.buf.set(data, this.len + 4);
    this.buf.fill(0, this.len + total, this.len + align4(total));
    this.len += align4(total);
    return this;
  }

  u8(type: number, v: number): this {
    return this.bytes(type, Buffer.from([v & 0xff]));
  }

  u32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return this.bytes(type, b);
  }

  i32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    return this.bytes(type, b);
  }

  /** NUL-terminated string. */
  string(type: number, s: string): this {
    return this.bytes(type, Buffer.from(`${s}\0`, 'utf8'));
  }

  begin(type: number): this {
    this.reserve(4);
    this.open.push(this.len);
    this.buf.writeUInt16LE(type, this.len + 2);
    this.len += 4;
    return this;
  }

  end(): this {
    const start = this.open.pop();
    if (start === undefined) throw new Error('AttrWriter.end() without begin()');
    this.buf.writeUInt16LE(this.len - start, start);
    return this;
  }

  finish(): Buffer {
    if (this.open.length > 0) throw new Error('AttrWriter.finish() with an open nest');
    return this.buf.subarray(0, this.len);
  }
}

/** Parses attributes in buf[start, end) into type -> payload (last one wins; flag bits masked off). */
export function parseAttrs(buf: Buffer, start = 0, end = buf.length): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = start;
  while (off + 4 <= end) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (len < 4 || off + len > end) break;
    out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

export function attrString(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

export function attrU32(b: Buffer | undefined): number | undefined {
  return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
}

export function attrI32(b: Buffer | undefined): number | undefined {
  return b && b.length >= 4 ? b.readInt32LE(0) : undefined;
}
