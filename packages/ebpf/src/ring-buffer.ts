/**
 * BPF ring buffer consumer for Node's event loop, drained (never blocking) from an unref'ed timer or on
 * epoll readiness. Two readers: 'mmap' (default) walks the ring's mmap'ed pages in JS, one copy per
 * record and no native call; 'libbpf' is ring_buffer__new with a koffi-registered callback per record.
 */
import { BpfError, kernelError } from './errors.js';
import { BpfMap } from './bpf-map.js';
import { MmapRingReader } from './ringbuf-mmap.js';
import { copyFrom, koffi, lastErrno, libbpf, sampleFnType, type Ptr } from './native.js';
import { MapType } from './sys.js';

export interface RingBufferOptions {
  /** Poll interval of the timer started by start() (default 10 ms). */
  intervalMs?: number;
  /**
   * 'timer' (default): drain every intervalMs. 'epoll': let libuv watch the ring's epoll fd and drain
   * when the kernel signals new data (no idle wake-ups, lower latency); still never blocks.
   */
  wakeup?: 'timer' | 'epoll';
  /** Called when onRecord throws during a timer-driven consume (default: the error is thrown, uncaught). */
  onError?: (err: unknown) => void;
  /** 'mmap' (default): read the ring's pages directly; 'libbpf': ring_buffer__consume with a callback. */
  reader?: 'mmap' | 'libbpf';
}

export class RingBuffer {
  readonly mapFd: number;
  private readonly onRecord: (data: Buffer) => void;
  private readonly intervalMs: number;
  private readonly onError: ((err: unknown) => void) | undefined;
  private rb: Ptr | null = null;
  private mm: MmapRingReader | null = null;
  private readonly reader: 'mmap' | 'libbpf';
  private readonly ringSize: number;
  private cb: koffi.IKoffiRegisteredCallback | null = null;
  private timer: NodeJS.Timeout | null = null;
  private poller: koffi.node.PollHandle | null = null;
  private readonly wakeup: 'timer' | 'epoll';
  private pending: unknown[] = [];
  private records = 0;

  /** `onRecord` gets a copy of each record (keep it as long as you like). */
  constructor(map: BpfMap | number, onRecord: (data: Buffer) => void, opts: RingBufferOptions = {}) {
    const info = typeof map === 'number' ? BpfMap.fromFd(map, false) : map;
    if (info.type !== MapType.RINGBUF) {
      throw new BpfError('EBPF_RINGBUF', `map ${info.name || `fd ${info.fd}`} is a ${info.typeName} map, not a ringbuf`, { hint: 'pass a BPF_MAP_TYPE_RINGBUF map' });
    }
    this.mapFd = typeof map === 'number' ? map : map.fd;
    this.onRecord = onRecord;
    this.intervalMs = opts.intervalMs ?? 10;
    this.onError = opts.onError;
    this.wakeup = opts.wakeup ?? 'timer';
    this.reader = opts.reader ?? 'mmap';
    this.ringSize = info.maxEntries;
    this.open();
  }

  private open(): void {
    if (this.rb || this.mm) return;
    if (this.reader === 'mmap') {
      this.mm = new MmapRingReader(this.mapFd, this.ringSize);
      return;
    }
    const cb = koffi.register(
      (_ctx: Ptr, data: Ptr, size: number | bigint) => {
        this.deliver(copyFrom(data, Number(size)));
        return 0;
      },
      koffi.pointer(sampleFnType() as koffi.IKoffiCType),
    );
    const rb = libbpf().ring_buffer__new(this.mapFd, cb, null, null);
    if (!rb) {
      const errno = lastErrno();
      koffi.unregister(cb);
      throw kernelError('EBPF_RINGBUF', `open ring buffer on map fd ${this.mapFd}`, errno, { hint: 'is the fd a BPF_MAP_TYPE_RINGBUF map?' });
    }
    this.cb = cb;
    this.rb = rb;
  }

  private deliver = (data: Buffer): void => {
    try {
      this.records++;
      this.onRecord(data);
    } catch (err) {
      this.pending.push(err);
    }
  };

  private drain(): void {
    try {
      this.consume();
    } catch (err) {
      if (this.onError) this.onError(err);
      else throw err;
    }
  }

  /** Start draining on a timer or on epoll readiness (unref'ed: neither keeps the process alive). Idempotent. */
  start(): void {
    this.open();
    if (this.timer || this.poller) return;
    if (this.wakeup === 'epoll') {
      // The ring buffer map fd itself is pollable; libbpf's reader wraps it in an epoll fd.
      const efd = this.rb ? libbpf().ring_buffer__epoll_fd(this.rb) : this.mapFd;
      this.poller = koffi.node.poll(efd, { readable: true }, () => this.drain());
      this.poller.unref();
      this.drain(); // what arrived before the watch started
      return;
    }
    this.timer = setInterval(() => this.drain(), this.intervalMs);
    this.timer.unref();
  }

  /** Drain what is in the ring now; returns the number of records handled. Throws what onRecord threw. */
  consume(): number {
    const rb = this.rb;
    if (!rb && !this.mm) throw new BpfError('EBPF_CLOSED', `ring buffer on map fd ${this.mapFd} is stopped`, { hint: 'create a new RingBuffer' });
    const r = this.mm ? this.mm.consume(this.deliver) : libbpf().ring_buffer__consume(rb);
    if (this.pending.length > 0) {
      const errs = this.pending;
      this.pending = [];
      if (errs.length === 1) throw errs[0];
      throw new AggregateError(errs, `ring buffer: ${errs.length} records failed in onRecord`);
    }
    if (r < 0) throw kernelError('EBPF_RINGBUF', `consume ring buffer on map fd ${this.mapFd}`, -r);
    return r;
  }

  /** Records delivered to onRecord so far. */
  get delivered(): number {
    return this.records;
  }

  /** Stop the timer, free the ring buffer and unregister the callback. Idempotent. */
  stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    if (this.poller) {
      this.poller.close();
      this.poller = null;
    }
    if (this.rb) {
      libbpf().ring_buffer__free(this.rb);
      this.rb = null;
    }
    if (this.mm) {
      this.mm.close();
      this.mm = null;
    }
    if (this.cb) {
      koffi.unregister(this.cb);
      this.cb = null;
    }
  }
}
