// A fixed-capacity ring of the most recent items (Hubble keeps the last 4095 flows) with followers.
//
// Followers do not get a private queue: each holds a cursor (a sequence number) into the ring, so a slow
// reader never makes the agent buffer more than `capacity` items. If the writer laps a reader, the reader
// skips to the oldest item still stored and is told how many it lost (Hubble's HUBBLE_RING_BUFFER lost event).

/** Hubble's default ring capacity (2^12 - 1). */
export const DEFAULT_RING_CAPACITY = 4095;

export type RingRead<T> = { kind: 'item'; seq: number; value: T } | { kind: 'lost'; count: number };

export interface FollowOptions {
  /** First sequence number to deliver; defaults to the next item written (only new items). */
  fromSeq?: number;
  /** Ends the iteration (also ends a pending wait). */
  signal?: AbortSignal;
}

export class FlowRing<T> {
  readonly capacity: number;
  private readonly buf: Array<T | undefined>;
  /** Sequence number the next push gets; also the total number of items ever pushed. */
  private head = 0;
  private waiters = new Set<() => void>();

  constructor(capacity: number = DEFAULT_RING_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`FlowRing capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
    this.buf = new Array<T | undefined>(capacity);
  }

  /** Items currently stored. */
  get size(): number {
    return Math.min(this.head, this.capacity);
  }

  /** Items ever pushed. */
  get seen(): number {
    return this.head;
  }

  /** Sequence number of the next item to be pushed. */
  get nextSeq(): number {
    return this.head;
  }

  /** Sequence number of the oldest item still stored. */
  get oldestSeq(): number {
    return Math.max(0, this.head - this.capacity);
  }

  push(value: T): void {
    this.buf[this.head % this.capacity] = value;
    this.head++;
    if (this.waiters.size > 0) {
      const ws = this.waiters;
      this.waiters = new Set();
      for (const w of ws) w();
    }
  }

  /** The item with sequence number `seq`, or undefined if it was overwritten or not yet written. */
  at(seq: number): T | undefined {
    if (seq < this.oldestSeq || seq >= this.head) return undefined;
    return this.buf[seq % this.capacity];
  }

  /** Stored items, oldest first. */
  snapshot(): T[] {
    const out: T[] = [];
    for (let s = this.oldestSeq; s < this.head; s++) out.push(this.buf[s % this.capacity] as T);
    return out;
  }

  /** Stored items newest first (lazy), with their sequence numbers. */
  *newestFirst(): Generator<[number, T]> {
    const end = this.head;
    for (let s = end - 1; s >= this.oldestSeq; s--) yield [s, this.buf[s % this.capacity] as T];
  }

  /** Stored items oldest first (lazy), with their sequence numbers. */
  *oldestFirst(): Generator<[number, T]> {
    for (let s = this.oldestSeq; s < this.head; s++) yield [s, this.buf[s % this.capacity] as T];
  }

  /** Resolves when an item with sequence >= seq exists, or when the signal aborts. */
  private waitFor(seq: number, signal?: AbortSignal): Promise<void> {
    if (this.head > seq || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Follows the ring: yields each item from `fromSeq` on as it is pushed, forever (until the signal aborts or
   * the consumer returns). The consumer pulls at its own pace; if it falls more than `capacity` behind it gets
   * a `{kind:'lost', count}` read and continues with the oldest stored item.
   */
  async *follow(opts: FollowOptions = {}): AsyncGenerator<RingRead<T>, void, undefined> {
    let cursor = opts.fromSeq ?? this.head;
    const signal = opts.signal;
    while (!signal?.aborted) {
      if (cursor >= this.head) {
        await this.waitFor(cursor, signal);
        continue;
      }
      const oldest = this.oldestSeq;
      if (cursor < oldest) {
        yield { kind: 'lost', count: oldest - cursor };
        cursor = oldest;
        continue;
      }
      const value = this.buf[cursor % this.capacity] as T;
      yield { kind: 'item', seq: cursor, value };
      cursor++;
    }
  }

  /** Number of followers currently waiting for a new item. */
  get waiting(): number {
    return this.waiters.size;
  }
}
