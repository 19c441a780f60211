/**
 * Typed access to a BPF map over the raw bpf() syscall. Buffers (attr, key, value) are allocated once
 * per TypedMap and their addresses taken once, so single-element operations do not allocate beyond
 * decoding. Not re-entrant across iteration: iterators use their own buffers.
 */
import os from 'node:os';
import type { Codec } from './codec.js';
import { BpfError, kernelError } from './errors.js';
import { addressOf } from './native.js';
import { Attr, BpfCmd, bpf } from './sys.js';

const { ENOENT, EINVAL, ENOSPC, EOPNOTSUPP, EFAULT } = os.constants.errno;
const ENOTSUPP = 524;

export type UpdateFlag = 'any' | 'noexist' | 'exist';
const updateFlags: Record<UpdateFlag, number> = { any: 0, noexist: 1, exist: 2 };

/** What a TypedMap needs from its map (a BpfMap satisfies it). */
export interface MapHandle {
  readonly name: string;
  readonly fd: number;
  readonly keySize: number;
  readonly maxEntries: number;
  readonly type: number;
}

const BATCH_CHUNK = 1024;

export class TypedMap<K, V> {
  readonly map: MapHandle;
  readonly key: Codec<K>;
  readonly value: Codec<V>;
  // one prebuilt attr per single-element command: the hot path only encodes and calls
  private readonly lookupAttr = new Attr();
  private readonly updateAttr = new Attr();
  private readonly deleteAttr = new Attr();
  private readonly keyBuf: Buffer;
  private readonly keyAddr: number;
  private readonly valBuf: Buffer;
  private readonly valAddr: number;
  private batchUnsupported = { lookup: false, update: false, delete: false };

  /** `value.size` is the size the kernel copies per element (for per-CPU maps: all CPUs). */
  constructor(map: MapHandle, key: Codec<K>, value: Codec<V>) {
    this.map = map;
    this.key = key;
    this.value = value;
    this.keyBuf = Buffer.alloc(Math.max(key.size, 8));
    this.keyAddr = addressOf(this.keyBuf);
    this.valBuf = Buffer.alloc(Math.max(value.size, 8));
    this.valAddr = addressOf(this.valBuf);
    this.lookupAttr.u32(0, map.fd).ptr(8, this.keyAddr).ptr(16, this.valAddr);
    this.updateAttr.u32(0, map.fd).ptr(8, this.keyAddr).ptr(16, this.valAddr);
    this.deleteAttr.u32(0, map.fd).ptr(8, this.keyAddr);
  }

  private what(op: string): string {
    return `${op} on map ${this.map.name}`;
  }

  /** The value for `k`, or undefined when there is none. */
  lookup(k: K): V | undefined {
    this.key.encode(k, this.keyBuf, 0);
    const r = bpf(BpfCmd.MAP_LOOKUP_ELEM, this.lookupAttr);
    if (r === -ENOENT) return undefined;
    if (r < 0) throw kernelError('EBPF_MAP_LOOKUP', this.what('lookup'), -r);
    return this.value.decode(this.valBuf, 0);
  }

  /** Insert or replace (flags: 'any' default, 'noexist' fails if present, 'exist' fails if absent). */
  update(k: K, v: V, flags: UpdateFlag = 'any'): void {
    this.key.encode(k, this.keyBuf, 0);
    this.value.encode(v, this.valBuf, 0);
    this.updateAttr.buf.writeUInt32LE(updateFlags[flags], 24);
    const r = bpf(BpfCmd.MAP_UPDATE_ELEM, this.updateAttr);
    if (r < 0) {
      const errno = -r;
      const hint =
        errno === os.constants.errno.E2BIG
          ? `map ${this.map.name} is full (max_entries ${this.map.maxEntries})`
          : errno === os.constants.errno.EEXIST
            ? "the key exists and flags was 'noexist'"
            : errno === ENOENT
              ? "the key does not exist and flags was 'exist'"
              : undefined;
      throw kernelError('EBPF_MAP_UPDATE', this.what('update'), errno, hint === undefined ? {} : { hint });
    }
  }

  /** Delete `k`; false if it was not there. */
  delete(k: K): boolean {
    this.key.encode(k, this.keyBuf, 0);
    const r = bpf(BpfCmd.MAP_DELETE_ELEM, this.deleteAttr);
    if (r === -ENOENT) return false;
    if (r < 0) throw kernelError('EBPF_MAP_DELETE', this.what('delete'), -r);
    return true;
  }

  /** Iterate keys with BPF_MAP_GET_NEXT_KEY (its own buffers: safe to lookup/delete while iterating). */
  *keys(): IterableIterator<K> {
    for (const kb of this.rawKeys(Buffer.alloc(Math.max(this.key.size, 8)))) yield this.key.decode(kb, 0);
  }

  /** Yields `cur` filled with each key in turn. */
  private *rawKeys(cur: Buffer, curAddr = addressOf(cur)): IterableIterator<Buffer> {
    const attr = new Attr();
    const next = Buffer.alloc(Math.max(this.key.size, 8));
    const nextAddr = addressOf(next);
    let first = true;
    for (;;) {
      attr.reset().u32(0, this.map.fd).ptr(8, first ? 0 : curAddr).ptr(16, nextAddr);
      const r = bpf(BpfCmd.MAP_GET_NEXT_KEY, attr);
      if (r === -ENOENT) return;
      if (r < 0) throw kernelError('EBPF_MAP_ITERATE', this.what('get_next_key'), -r);
      first = false;
      next.copy(cur, 0, 0, this.key.size);
      yield cur;
    }
  }

  /** Iterate [key, value] pairs (entries deleted during the walk are skipped). */
  *entries(): IterableIterator<[K, V]> {
    const attr = new Attr();
    const val = Buffer.alloc(Math.max(this.value.size, 8));
    const cur = Buffer.alloc(Math.max(this.key.size, 8));
    const curAddr = addressOf(cur);
    attr.u32(0, this.map.fd).ptr(8, curAddr).ptr(16, addressOf(val));
    for (const kb of this.rawKeys(cur, curAddr)) {
      const r = bpf(BpfCmd.MAP_LOOKUP_ELEM, attr);
      if (r === -ENOENT) continue;
      if (r < 0) throw kernelError('EBPF_MAP_LOOKUP', this.what('lookup'), -r);
      yield [this.key.decode(kb, 0), this.value.decode(val, 0)];
    }
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  private static unsupported(errno: number): boolean {
    return errno === EINVAL || errno === ENOTSUPP || errno === EOPNOTSUPP;
  }

  /**
   * All entries with BPF_MAP_LOOKUP_BATCH (few syscalls for the whole map); falls back to
   * get_next_key iteration for map types without batch support.
   */
  lookupBatch(): Array<[K, V]> {
    if (this.batchUnsupported.lookup) return [...this.entries()];
    const out: Array<[K, V]> = [];
    let chunk = Math.max(1, Math.min(BATCH_CHUNK, this.map.maxEntries));
    let keys = Buffer.alloc(chunk * this.key.size);
    let vals = Buffer.alloc(chunk * this.value.size);
    const tokenSize = Math.max(this.key.size, 8);
    const inTok = Buffer.alloc(tokenSize);
    const outTok = Buffer.alloc(tokenSize);
    const attr = new Attr();
    let first = true;
    for (;;) {
      attr
        .reset()
        .ptr(0, first ? 0 : addressOf(inTok))
        .ptr(8, addressOf(outTok))
        .ptr(16, addressOf(keys))
        .ptr(24, addressOf(vals))
        .u32(32, chunk)
        .u32(36, this.map.fd);
      const r = bpf(BpfCmd.MAP_LOOKUP_BATCH, attr);
      const errno = r < 0 ? -r : 0;
      if (errno === ENOSPC && attr.getU32(32) === 0) {
        // a hash bucket holds more entries than `chunk`: retry with room for it
        chunk *= 4;
        keys = Buffer.alloc(chunk * this.key.size);
        vals = Buffer.alloc(chunk * this.value.size);
        continue;
      }
      if (errno !== 0 && errno !== ENOENT) {
        if (first && TypedMap.unsupported(errno)) {
          this.batchUnsupported.lookup = true;
          return [...this.entries()];
        }
        throw kernelError('EBPF_MAP_BATCH', this.what('lookup_batch'), errno);
      }
      const n = attr.getU32(32);
      for (let i = 0; i < n; i++) {
        out.push([this.key.decode(keys, i * this.key.size), this.value.decode(vals, i * this.value.size)]);
      }
      if (errno === ENOENT) return out;
      outTok.copy(inTok);
      first = false;
    }
  }

  /** Update many entries with BPF_MAP_UPDATE_BATCH (falls back to single updates). */
  updateBatch(entries: Array<[K, V]>, flags: UpdateFlag = 'any'): void {
    if (entries.length === 0) return;
    if (this.batchUnsupported.update) {
      for (const [k, v] of entries) this.update(k, v, flags);
      return;
    }
    const chunk = Math.min(entries.length, 16384);
    const keys = Buffer.alloc(chunk * this.key.size);
    const vals = Buffer.alloc(chunk * this.value.size);
    const attr = new Attr();
    for (let start = 0; start < entries.length; ) {
      const n = Math.min(chunk, entries.length - start);
      for (let i = 0; i < n; i++) {
        const [k, v] = entries[start + i]!;
        this.key.encode(k, keys, i * this.key.size);
        this.value.encode(v, vals, i * this.value.size);
      }
      attr
        .reset()
        .ptr(16, addressOf(keys))
        .ptr(24, addressOf(vals))
        .u32(32, n)
        .u32(36, this.map.fd)
        .u64(40, updateFlags[flags]);
      const r = bpf(BpfCmd.MAP_UPDATE_BATCH, attr);
      if (r < 0) {
        const done = attr.getU32(32);
        if (start === 0 && done === 0 && TypedMap.unsupported(-r)) {
          this.batchUnsupported.update = true;
          for (const [k, v] of entries) this.update(k, v, flags);
          return;
        }
        throw kernelError('EBPF_MAP_UPDATE', `${this.what('update_batch')} (failed at entry ${start + done} of ${entries.length})`, -r, {
          ...(-r === os.constants.errno.E2BIG || -r === ENOSPC ? { hint: `map ${this.map.name} is full (max_entries ${this.map.maxEntries})` } : {}),
        });
      }
      start += n;
    }
  }

  /** Delete many keys with BPF_MAP_DELETE_BATCH; keys that are not there are skipped. Returns how many were deleted. */
  deleteBatch(keys: K[]): number {
    if (keys.length === 0) return 0;
    if (this.batchUnsupported.delete) return this.deleteEach(keys, 0);
    const kbuf = Buffer.alloc(keys.length * this.key.size);
    for (let i = 0; i < keys.length; i++) this.key.encode(keys[i]!, kbuf, i * this.key.size);
    const attr = new Attr();
    let deleted = 0;
    for (let start = 0; start < keys.length; ) {
      const n = keys.length - start;
      attr
        .reset()
        .ptr(16, addressOf(kbuf) + start * this.key.size)
        .u32(32, n)
        .u32(36, this.map.fd);
      const r = bpf(BpfCmd.MAP_DELETE_BATCH, attr);
      const done = attr.getU32(32);
      if (r >= 0) return deleted + n;
      const errno = -r;
      if (errno === ENOENT || (errno === EFAULT && done < n)) {
        // the key at `start + done` is not in the map: skip it and go on
        deleted += done;
        start += done + 1;
        continue;
      }
      if (start === 0 && done === 0 && TypedMap.unsupported(errno)) {
        this.batchUnsupported.delete = true;
        return this.deleteEach(keys, 0);
      }
      throw kernelError('EBPF_MAP_DELETE', `${this.what('delete_batch')} (failed at key ${start + done} of ${keys.length})`, errno);
    }
    return deleted;
  }

  private deleteEach(keys: K[], from: number): number {
    let n = 0;
    for (let i = from; i < keys.length; i++) if (this.delete(keys[i]!)) n++;
    return n;
  }

  /** Delete every entry; returns how many were deleted. */
  clear(): number {
    const keys = [...this.keys()];
    return this.deleteBatch(keys);
  }
}

/** Guard used by BpfMap: throws if a codec does not fit. */
export function checkCodecSize(mapName: string, part: 'key' | 'value', codecSize: number, mapSize: number, btfSize: number | undefined, btfName: string | undefined): void {
  if (codecSize !== mapSize) {
    throw new BpfError(
      'EBPF_CODEC_SIZE',
      `map ${mapName}: ${part} codec is ${codecSize} bytes but the map's ${part} is ${mapSize} bytes${btfName ? ` (BTF type ${btfName})` : ''}`,
      { hint: `make the TypeScript codec match the C ${part} type${btfName ? ` ${btfName}` : ''} (see bpf/lib/common.h)` },
    );
  }
  if (btfSize !== undefined && codecSize !== btfSize) {
    throw new BpfError(
      'EBPF_CODEC_SIZE',
      `map ${mapName}: ${part} codec is ${codecSize} bytes but BTF type ${btfName ?? '?'} is ${btfSize} bytes`,
      { hint: `make the TypeScript codec match the C ${part} type` },
    );
  }
}
