/**
 * The raw bpf(2) syscall (x86_64: 321) for the hot map paths and the few commands libbpf is not needed
 * for. `union bpf_attr` layouts follow /usr/include/linux/bpf.h.
 */
import { readFileSync } from 'node:fs';
import { addressOf, lastErrno, libc } from './native.js';

export const SYS_BPF = 321;

export const BpfCmd = {
  MAP_CREATE: 0,
  MAP_LOOKUP_ELEM: 1,
  MAP_UPDATE_ELEM: 2,
  MAP_DELETE_ELEM: 3,
  MAP_GET_NEXT_KEY: 4,
  OBJ_PIN: 6,
  OBJ_GET: 7,
  PROG_ATTACH: 8,
  PROG_DETACH: 9,
  PROG_TEST_RUN: 10,
  PROG_GET_FD_BY_ID: 13,
  MAP_GET_FD_BY_ID: 14,
  OBJ_GET_INFO_BY_FD: 15,
  PROG_QUERY: 16,
  MAP_LOOKUP_BATCH: 24,
  MAP_LOOKUP_AND_DELETE_BATCH: 25,
  MAP_UPDATE_BATCH: 26,
  MAP_DELETE_BATCH: 27,
} as const;

export const MapType = {
  UNSPEC: 0,
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  STACK_TRACE: 7,
  CGROUP_ARRAY: 8,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  DEVMAP: 14,
  SOCKMAP: 15,
  CPUMAP: 16,
  XSKMAP: 17,
  SOCKHASH: 18,
  CGROUP_STORAGE: 19,
  REUSEPORT_SOCKARRAY: 20,
  PERCPU_CGROUP_STORAGE: 21,
  QUEUE: 22,
  STACK: 23,
  SK_STORAGE: 24,
  DEVMAP_HASH: 25,
  STRUCT_OPS: 26,
  RINGBUF: 27,
  INODE_STORAGE: 28,
  TASK_STORAGE: 29,
  BLOOM_FILTER: 30,
  USER_RINGBUF: 31,
} as const;

export function mapTypeName(type: number): string {
  for (const [k, v] of Object.entries(MapType)) if (v === type) return k.toLowerCase();
  return `type_${type}`;
}

export function isPerCpuMapType(type: number): boolean {
  return (
    type === MapType.PERCPU_HASH ||
    type === MapType.PERCPU_ARRAY ||
    type === MapType.LRU_PERCPU_HASH ||
    type === MapType.PERCPU_CGROUP_STORAGE
  );
}

/** Size of the attr buffers we pass: large enough for every command we use, zero-padded. */
export const ATTR_SIZE = 128;

/** A reusable `union bpf_attr` with its address taken once. */
export class Attr {
  readonly buf = Buffer.alloc(ATTR_SIZE);
  readonly addr = addressOf(this.buf);
  reset(): this {
    this.buf.fill(0);
    return this;
  }
  u32(off: number, v: number): this {
    this.buf.writeUInt32LE(v >>> 0, off);
    return this;
  }
  u64(off: number, v: number | bigint): this {
    this.buf.writeBigUInt64LE(BigInt(v), off);
    return this;
  }
  ptr(off: number, addr: number): this {
    // addresses are below 2^53 on x86_64
    this.buf.writeUInt32LE(addr % 0x1_0000_0000, off);
    this.buf.writeUInt32LE(Math.floor(addr / 0x1_0000_0000), off + 4);
    return this;
  }
  getU32(off: number): number {
    return this.buf.readUInt32LE(off);
  }
}

/** bpf(cmd, attr): returns the result (>= 0) or -errno. */
export function bpf(cmd: number, attr: Attr): number {
  const r = libc().syscall(SYS_BPF, cmd, attr.addr, ATTR_SIZE);
  if (r < 0) return -lastErrno();
  return r;
}

/** A NUL-terminated C string kept in a Buffer, with its address. */
export function cString(s: string): { buf: Buffer; addr: number } {
  const buf = Buffer.from(`${s}\0`, 'utf8');
  return { buf, addr: addressOf(buf) };
}

let possibleCpus: number | undefined;

/** Parse a kernel CPU list ("0-3,5"). */
export function parseCpuList(list: string): number {
  let n = 0;
  for (const part of list.trim().split(',')) {
    if (part === '') continue;
    const [a, b] = part.split('-');
    const lo = Number(a);
    const hi = b === undefined ? lo : Number(b);
    n += hi - lo + 1;
  }
  return n;
}

/** Number of possible CPUs (/sys/devices/system/cpu/possible): the number of values in a per-CPU map. */
export function nrPossibleCpus(): number {
  possibleCpus ??= parseCpuList(readFileSync('/sys/devices/system/cpu/possible', 'utf8'));
  return possibleCpus;
}
