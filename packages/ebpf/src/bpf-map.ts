/**
 * A BPF map: an fd plus what is known about it (sizes, type, BTF type names). Maps from a BpfObject are
 * owned by the object; maps opened with fromPinned/fromId own their fd and must be closed.
 */
import { closeSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { btfResolveSize, btfTypeName, btfTypeNames } from './btf.js';
import { arrayCodec, type Codec } from './codec.js';
import { BpfError, kernelError } from './errors.js';
import { isBpffs } from './bpffs.js';
import { addressOf, libbpf, type Ptr } from './native.js';
import { Attr, BpfCmd, bpf, cString, isPerCpuMapType, MapType, mapTypeName, nrPossibleCpus } from './sys.js';
import { checkCodecSize, TypedMap } from './typed-map.js';

export interface BpfMapDescription {
  name: string;
  fd: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  id?: number;
  btfKeyType?: string | undefined;
  btfValueType?: string | undefined;
  btfKeyNames?: string[];
  btfValueNames?: string[];
  btfKeySize?: number | undefined;
  btfValueSize?: number | undefined;
}

export class BpfMap {
  readonly name: string;
  readonly fd: number;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  /** BTF name of the key type ('endpoint_key', '__u32'), when the map has BTF. */
  readonly btfKeyType: string | undefined;
  readonly btfValueType: string | undefined;
  private readonly btfKeyNames: string[];
  private readonly btfValueNames: string[];
  private readonly btfKeySize: number | undefined;
  private readonly btfValueSize: number | undefined;
  private readonly ownsFd: boolean;
  private closed = false;
  private _id: number | undefined;

  /** Prefer BpfObject.map(), BpfMap.fromPinned() or BpfMap.fromFd(). */
  constructor(d: BpfMapDescription, ownsFd: boolean) {
    this.name = d.name;
    this.fd = d.fd;
    this.type = d.type;
    this.keySize = d.keySize;
    this.valueSize = d.valueSize;
    this.maxEntries = d.maxEntries;
    this.flags = d.flags;
    this.btfKeyType = d.btfKeyType;
    this.btfValueType = d.btfValueType;
    this.btfKeyNames = d.btfKeyNames ?? [];
    this.btfValueNames = d.btfValueNames ?? [];
    this.btfKeySize = d.btfKeySize;
    this.btfValueSize = d.btfValueSize;
    this.ownsFd = ownsFd;
    this._id = d.id;
  }

  /** Kernel map id (BPF_OBJ_GET_INFO_BY_FD). */
  get id(): number {
    if (this._id === undefined) {
      const info = Buffer.alloc(88);
      const r = bpf(BpfCmd.OBJ_GET_INFO_BY_FD, new Attr().u32(0, this.fd).u32(4, info.length).ptr(8, addressOf(info)));
      if (r < 0) throw kernelError('EBPF_MAP_INFO', `get info of map ${this.name}`, -r);
      this._id = info.readUInt32LE(4);
    }
    return this._id;
  }

  /** 'hash', 'lru_hash', 'percpu_hash', 'ringbuf', ... */
  get typeName(): string {
    return mapTypeName(this.type);
  }

  get isPerCpu(): boolean {
    return isPerCpuMapType(this.type);
  }

  private checkOpen(): void {
    if (this.closed) throw new BpfError('EBPF_CLOSED', `map ${this.name} is closed`, { hint: 'open it again' });
  }

  private checkCodecs(key: Codec<unknown>, valueSize: number, valueName: string | undefined): void {
    checkCodecSize(this.name, 'key', key.size, this.keySize, this.btfKeySize, this.btfKeyType);
    checkCodecSize(this.name, 'value', valueSize, this.valueSize, this.btfValueSize, this.btfValueType);
    const names: Array<[string | undefined, string[], string]> = [
      [key.name, this.btfKeyNames, 'key'],
      [valueName, this.btfValueNames, 'value'],
    ];
    for (const [want, have, part] of names) {
      if (want !== undefined && have.length > 0 && !have.includes(want)) {
        throw new BpfError('EBPF_CODEC_TYPE', `map ${this.name}: ${part} codec is for ${want} but the map's ${part} type is ${have.join(' = ')}`, {
          hint: 'use the codec for the C type the map is declared with',
        });
      }
    }
  }

  private checkKeyed(): void {
    if (this.type === MapType.RINGBUF || this.type === MapType.USER_RINGBUF || this.type === MapType.PERF_EVENT_ARRAY) {
      throw new BpfError('EBPF_MAP_TYPE', `map ${this.name} is a ${this.typeName} map: it has no keys`, {
        hint: this.type === MapType.RINGBUF ? 'read it with new RingBuffer(map, onRecord)' : 'not supported here',
      });
    }
  }

  /** A typed view; codec sizes are checked against the map and its BTF (EBPF_CODEC_SIZE). */
  typed<K, V>(key: Codec<K>, value: Codec<V>): TypedMap<K, V> {
    this.checkOpen();
    this.checkKeyed();
    if (this.isPerCpu) {
      throw new BpfError('EBPF_MAP_TYPE', `map ${this.name} is a ${this.typeName} map: values are per CPU`, {
        hint: 'use map.typedPerCpu(key, value), which gives V[] (one value per possible CPU)',
      });
    }
    this.checkCodecs(key, value.size, value.name);
    return new TypedMap(this, key, value);
  }

  /**
   * A typed view of a per-CPU map: values are arrays with one element per possible CPU
   * (/sys/devices/system/cpu/possible). Updates must give a value for every CPU.
   */
  typedPerCpu<K, V>(key: Codec<K>, value: Codec<V>): TypedMap<K, V[]> {
    this.checkOpen();
    this.checkKeyed();
    if (!this.isPerCpu) {
      throw new BpfError('EBPF_MAP_TYPE', `map ${this.name} is a ${this.typeName} map, not per CPU`, { hint: 'use map.typed(key, value)' });
    }
    this.checkCodecs(key, value.size, value.name);
    const stride = Math.ceil(value.size / 8) * 8;
    return new TypedMap(this, key, arrayCodec(value, nrPossibleCpus(), stride));
  }

  /** Number of values a per-CPU map holds per key. */
  static possibleCpus(): number {
    return nrPossibleCpus();
  }

  /** Pin at `path` (on a bpffs). */
  pin(pinPath: string): void {
    this.checkOpen();
    const p = cString(pinPath);
    const attr = new Attr().ptr(0, p.addr).u32(8, this.fd);
    const r = bpf(BpfCmd.OBJ_PIN, attr);
    if (r < 0) {
      const errno = -r;
      if (errno === os.constants.errno.EPERM && !isBpffs(path.dirname(pinPath))) {
        throw new BpfError('EBPF_PIN', `pin map ${this.name} at ${pinPath}: ${path.dirname(pinPath)} is not on a bpffs`, {
          errno,
          hint: 'mount one with mountBpffs(root) and pin under it',
        });
      }
      throw kernelError('EBPF_PIN', `pin map ${this.name} at ${pinPath}`, errno, {
        ...(errno === os.constants.errno.EEXIST ? { hint: 'something is already pinned there: unpin it first' } : {}),
        ...(errno === os.constants.errno.ENOENT ? { hint: 'the parent directory does not exist (mkdir it on the bpffs)' } : {}),
      });
    }
  }

  /** Remove a pin (a missing pin is fine). The map lives on while fds or programs hold it. */
  unpin(pinPath: string): void {
    try {
      unlinkSync(pinPath);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return;
      throw new BpfError('EBPF_PIN', `unpin ${pinPath}: ${e.message}`, { errno: e.errno === undefined ? undefined : -e.errno, hint: 'check the path' });
    }
  }

  /** Close the fd (a no-op for maps owned by a BpfObject). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsFd) closeSync(this.fd);
  }

  /** Open a pinned map (BPF_OBJ_GET). The returned map owns its fd. */
  static fromPinned(pinPath: string): BpfMap {
    const p = cString(pinPath);
    const fd = bpf(BpfCmd.OBJ_GET, new Attr().ptr(0, p.addr));
    if (fd < 0) {
      throw kernelError('EBPF_OBJ_GET', `open pinned map ${pinPath}`, -fd, {
        ...(-fd === os.constants.errno.ENOENT ? { hint: 'nothing is pinned there (was the bpffs remounted, or the map never pinned?)' } : {}),
      });
    }
    try {
      return BpfMap.fromFd(fd, true);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Open a map by kernel id (BPF_MAP_GET_FD_BY_ID). */
  static fromId(id: number): BpfMap {
    const fd = bpf(BpfCmd.MAP_GET_FD_BY_ID, new Attr().u32(0, id));
    if (fd < 0) throw kernelError('EBPF_OBJ_GET', `open map id ${id}`, -fd);
    try {
      return BpfMap.fromFd(fd, true);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Describe a map fd with BPF_OBJ_GET_INFO_BY_FD (and its BTF from the kernel, if any). */
  static fromFd(fd: number, ownsFd: boolean): BpfMap {
    const info = Buffer.alloc(88);
    const attr = new Attr().u32(0, fd).u32(4, info.length).ptr(8, addressOf(info));
    const r = bpf(BpfCmd.OBJ_GET_INFO_BY_FD, attr);
    if (r < 0) throw kernelError('EBPF_MAP_INFO', `get info of map fd ${fd}`, -r);
    const nameEnd = info.indexOf(0, 24);
    const d: BpfMapDescription = {
      type: info.readUInt32LE(0),
      id: info.readUInt32LE(4),
      keySize: info.readUInt32LE(8),
      valueSize: info.readUInt32LE(12),
      maxEntries: info.readUInt32LE(16),
      flags: info.readUInt32LE(20),
      name: info.toString('utf8', 24, nameEnd < 0 || nameEnd > 40 ? 40 : nameEnd),
      fd,
    };
    const btfId = info.readUInt32LE(64);
    const keyTypeId = info.readUInt32LE(68);
    const valueTypeId = info.readUInt32LE(72);
    if (btfId !== 0 && (keyTypeId !== 0 || valueTypeId !== 0)) {
      const lib = libbpf();
      const btf = lib.btf__load_from_kernel_by_id(btfId);
      if (btf) {
        try {
          Object.assign(d, describeBtf(btf, keyTypeId, valueTypeId));
        } finally {
          lib.btf__free(btf);
        }
      }
    }
    return new BpfMap(d, ownsFd);
  }
}

/** BTF names and sizes of a map's key and value types. */
export function describeBtf(btf: Ptr, keyTypeId: number, valueTypeId: number): Partial<BpfMapDescription> {
  const d: Partial<BpfMapDescription> = {};
  if (keyTypeId !== 0) {
    d.btfKeyType = btfTypeName(btf, keyTypeId);
    d.btfKeyNames = btfTypeNames(btf, keyTypeId);
    d.btfKeySize = btfResolveSize(btf, keyTypeId);
  }
  if (valueTypeId !== 0) {
    d.btfValueType = btfTypeName(btf, valueTypeId);
    d.btfValueNames = btfTypeNames(btf, valueTypeId);
    d.btfValueSize = btfResolveSize(btf, valueTypeId);
  }
  return d;
}

/** Describe a libbpf `struct bpf_map *` of a loaded object. */
export function describeLibbpfMap(map: Ptr, btf: Ptr | null): BpfMapDescription {
  const lib = libbpf();
  const d: BpfMapDescription = {
    name: lib.bpf_map__name(map),
    fd: lib.bpf_map__fd(map),
    type: lib.bpf_map__type(map),
    keySize: lib.bpf_map__key_size(map),
    valueSize: lib.bpf_map__value_size(map),
    maxEntries: lib.bpf_map__max_entries(map),
    flags: lib.bpf_map__map_flags(map),
  };
  if (btf) Object.assign(d, describeBtf(btf, lib.bpf_map__btf_key_type_id(map), lib.bpf_map__btf_value_type_id(map)));
  return d;
}

