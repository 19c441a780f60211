/**
 * BPF ring buffer consumer for Node's event loop: libbpf's ring_buffer__new with a koffi-registered
 * callback, drained by ring_buffer__consume (never blocks) from an unref'ed timer.
 */
import { BpfError, kernelError } from './errors.js';
import type { BpfMap } from './bpf-map.js';
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
}

export class RingBuffer {
  readonly mapFd: number;
  private readonly onRecord: (data: Buffer) => void;
  private readonly intervalMs: number;
  private readonly onError: ((err: unknown) => void) | undefined;
  private rb: Ptr | null = null;
  private cb: koffi.IKoffiRegisteredCallback | null = null;
  private timer: NodeJS.Timeout | null = null;
  private poller: koffi.node.PollHandle | null = null;
  private readonly wakeup: 'timer' | 'epoll';
  private pending: unknown[] = [];
  private records = 0;

  /** `onRecord` gets a copy of each record (keep it as long as you like). */
  constructor(map: BpfMap | number, onRecord: (data: Buffer) => void, opts: RingBufferOptions = {}) {
    if (typeof map !== 'number' && map.type !== MapType.RINGBUF) {
      throw new BpfError('EBPF_RINGBUF', `map ${map.name} is a ${map.typeName} map, not a ringbuf`, { hint: 'pass a BPF_MAP_TYPE_RINGBUF map' });
    }
    this.mapFd = typeof map === 'number' ? map : map.fd;
    this.onRecord = onRecord;
    this.intervalMs = opts.intervalMs ?? 10;
    this.onError = opts.onError;
    this.wakeup = opts.wakeup ?? 'timer';
    this.open();
  }

  private open(): Ptr {
    if (this.rb) return this.rb;
    const cb = koffi.register(
      (_ctx: Ptr, data: Ptr, size: number | bigint) => {
        try {
          this.records++;
          this.onRecord(copyFrom(data, Number(size)));
        } catch (err) {
          this.pending.push(err);
        }
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
    return rb;
  }

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
    const rb = this.open();
    if (this.timer || this.poller) return;
    if (this.wakeup === 'epoll') {
      const efd = libbpf().ring_buffer__epoll_fd(rb);
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
    if (!rb) throw new BpfError('EBPF_CLOSED', `ring buffer on map fd ${this.mapFd} is stopped`, { hint: 'create a new RingBuffer' });
    const r = libbpf().ring_buffer__consume(rb);
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
    if (this.cb) {
      koffi.unregister(this.cb);
      this.cb = null;
    }
  }
}
