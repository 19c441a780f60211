/**
 * Reads a BPF ring buffer straight from its mmap'ed pages, the way libbpf's ring_buffer__consume does,
 * without a native callback per record: at tens of thousands of records a second the FFI crossing per
 * record is what costs. Layout (kernel/bpf/ringbuf.c): page 0 holds consumer_pos (read-write), page 1
 * producer_pos (read-only), then the data area mapped twice in a row so a record never wraps.
 * Positions and record headers are read with Atomics (acquire) and consumer_pos is written with
 * Atomics (release).
 */
import { kernelError } from './errors.js';
import { koffi, lastErrno, libc, type Ptr } from './native.js';

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const SC_PAGESIZE = 30;
const BUSY_BIT = 0x80000000;
const DISCARD_BIT = 0x40000000;
const HDR_SZ = 8;
const MAP_FAILED = 0xffffffffffffffffn;

function mapOrThrow(len: number, prot: number, fd: number, off: number, what: string): Ptr {
  const p = libc().mmap(null, len, prot, MAP_SHARED, fd, off);
  if (!p || BigInt(koffi.address(p)) === MAP_FAILED) {
    throw kernelError('EBPF_RINGBUF', `mmap the ${what} of ring buffer fd ${fd}`, lastErrno(), { hint: 'is the fd a BPF_MAP_TYPE_RINGBUF map (kernel >= 5.8)?' });
  }
  return p;
}

export class MmapRingReader {
  private readonly pageSize: number;
  private readonly dataLen: number;
  private readonly mask: number;
  private consumerPtr: Ptr | null;
  private producerPtr: Ptr | null;
  private readonly consumerPos: BigUint64Array;
  private readonly producerPos: BigUint64Array;
  private readonly hdr: Uint32Array;
  private readonly data: Buffer;

  /** `size` is the ring's max_entries (a power of two, in bytes). */
  constructor(
    readonly fd: number,
    size: number,
  ) {
    this.pageSize = Number(libc().sysconf(SC_PAGESIZE)) || 4096;
    this.dataLen = size;
    this.mask = size - 1;
    this.consumerPtr = mapOrThrow(this.pageSize, PROT_READ | PROT_WRITE, fd, 0, 'consumer page');
    try {
      this.producerPtr = mapOrThrow(this.pageSize + 2 * size, PROT_READ, fd, this.pageSize, 'producer page and data');
    } catch (e) {
      libc().munmap(this.consumerPtr, this.pageSize);
      throw e;
    }
    this.consumerPos = new BigUint64Array(koffi.view(this.consumerPtr, 8));
    const prod = koffi.view(this.producerPtr, this.pageSize + 2 * size);
    this.producerPos = new BigUint64Array(prod, 0, 1);
    this.hdr = new Uint32Array(prod, this.pageSize, (2 * size) / 4);
    this.data = Buffer.from(prod, this.pageSize, 2 * size);
  }

  /** Hands every committed record to `onRecord` (a copy), advancing consumer_pos; returns how many. */
  consume(onRecord: (data: Buffer) => void): number {
    let n = 0;
    let cons = Atomics.load(this.consumerPos, 0);
    for (;;) {
      const prod = Atomics.load(this.producerPos, 0);
      if (cons >= prod) return n;
      while (cons < prod) {
        const off = Number(cons & BigInt(this.mask));
        const len = Atomics.load(this.hdr, off / 4);
        if ((len & BUSY_BIT) !== 0) return n;
        const size = len & ~(BUSY_BIT | DISCARD_BIT);
        cons += BigInt((size + HDR_SZ + 7) & ~7);
        if ((len & DISCARD_BIT) === 0) {
          const rec = Buffer.allocUnsafe(size);
          this.data.copy(rec, 0, off + HDR_SZ, off + HDR_SZ + size);
          n++;
          try {
            onRecord(rec);
          } finally {
            Atomics.store(this.consumerPos, 0, cons);
          }
        } else {
          Atomics.store(this.consumerPos, 0, cons);
        }
      }
    }
  }

  close(): void {
    if (this.producerPtr) libc().munmap(this.producerPtr, this.pageSize + 2 * this.dataLen);
    if (this.consumerPtr) libc().munmap(this.consumerPtr, this.pageSize);
    this.producerPtr = null;
    this.consumerPtr = null;
  }
}
