import type { Codec } from '@cilium-ts/api';
import type { ReconcilableMap, ReconcileResult } from './reconcile-map.js';

/** A map the reconciler can write: single-element ops, and batch ops when the map has them (TypedMap does). */
export interface BatchReconcilableMap<K, V> extends ReconcilableMap<K, V> {
  lookupBatch?(): Array<[K, V]>;
  updateBatch?(entries: Array<[K, V]>): void;
  deleteBatch?(keys: K[]): number;
}

export interface MapReconcilerStatus {
  name: string;
  /** Rows that should be in the map. */
  desired: number;
  /** Rows written or deleted but not yet confirmed (waiting for a retry). */
  pending: number;
  updates: number;
  deletes: number;
  successCount: number;
  failureCount: number;
  consecutiveFailures: number;
  lastError?: string;
  lastSuccess?: string;
  /** Next retry (ISO time) when the last write failed. */
  retryAt?: string;
}

export interface MapReconcilerOptions {
  /** From this many pending rows on, a flush uses the batch ops (default 32). */
  batchThreshold?: number;
  /** Full resync reads the map with lookupBatch (default true; false for huge values such as Maglev tables). */
  batchRead?: boolean;
  /** Retry backoff after a failed write: first delay, cap (ms). Default 100 ms .. 30 s, doubling. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Called after each failed write (for logs). */
  onError?: (name: string, err: Error) => void;
}

interface Row<K, V> {
  k: K;
  v: V;
}

/**
 * The generic reconciler: holds the desired rows of one BPF map, writes changes as they come (`set`, `delete`,
 * then `flush`), or the whole map at once (`fullSync`: write what is missing or differs, delete what nobody
 * wants, with batch ops). A failed write leaves its rows pending and retries with exponential backoff until
 * the map matches; `status()` reports counters and the last error.
 *
 * Without a map (the datapath object does not have it) the desired rows are still kept and nothing is written.
 */
export class MapReconciler<K, V> {
  readonly #desired = new Map<string, Row<K, V>>();
  /** Keys (hex) whose map row may differ from the desired one. */
  readonly #pending = new Map<string, K>();
  readonly #kbuf: Buffer;
  readonly #va: Buffer;
  readonly #vb: Buffer;
  #map: BatchReconcilableMap<K, V> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #delay: number;
  #needFull = false;
  readonly #st: MapReconcilerStatus;

  constructor(
    readonly name: string,
    map: BatchReconcilableMap<K, V> | undefined,
    readonly key: Codec<K>,
    readonly value: Codec<V>,
    private readonly opts: MapReconcilerOptions = {},
  ) {
    this.#map = map;
    this.#kbuf = Buffer.alloc(key.size);
    this.#va = Buffer.alloc(value.size);
    this.#vb = Buffer.alloc(value.size);
    this.#delay = opts.retryMinMs ?? 100;
    this.#st = { name, desired: 0, pending: 0, updates: 0, deletes: 0, successCount: 0, failureCount: 0, consecutiveFailures: 0 };
  }

  get hasMap(): boolean {
    return this.#map !== undefined;
  }

  #hex(k: K): string {
    this.key.encode(k, this.#kbuf, 0);
    return this.#kbuf.toString('hex');
  }

  #sameValue(a: V, b: V): boolean {
    this.value.encode(a, this.#va, 0);
    this.value.encode(b, this.#vb, 0);
    return this.#va.equals(this.#vb);
  }

  /** Desire `k -> v` (written on the next flush). */
  set(k: K, v: V): void {
    const h = this.#hex(k);
    const cur = this.#desired.get(h);
    if (cur && this.#sameValue(cur.v, v)) return;
    this.#desired.set(h, { k, v });
    this.#pending.set(h, k);
  }

  /** Desire that `k` is not in the map (deleted on the next flush). */
  delete(k: K): void {
    const h = this.#hex(k);
    if (!this.#desired.delete(h)) return;
    this.#pending.set(h, k);
  }

  get(k: K): V | undefined {
    return this.#desired.get(this.#hex(k))?.v;
  }

  *desired(): IterableIterator<[K, V]> {
    for (const r of this.#desired.values()) yield [r.k, r.v];
  }

  get size(): number {
    return this.#desired.size;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Writes the pending rows. false: something failed (kept pending, a retry is scheduled). */
  flush(): boolean {
    if (this.#needFull) return this.fullSync() !== undefined;
    const map = this.#map;
    if (!map || this.#pending.size === 0) return true;
    const ups: Array<[string, K, V]> = [];
    const dels: Array<[string, K]> = [];
    for (const [h, k] of this.#pending) {
      const r = this.#desired.get(h);
      if (r) ups.push([h, r.k, r.v]);
      else dels.push([h, k]);
    }
    try {
      const batch = ups.length + dels.length >= (this.opts.batchThreshold ?? 32);
      if (batch && map.updateBatch) {
        map.updateBatch(ups.map(([, k, v]) => [k, v]));
        for (const [h] of ups) this.#pending.delete(h);
      } else {
        for (const [h, k, v] of ups) {
          map.update(k, v);
          this.#pending.delete(h);
        }
      }
      this.#st.updates += ups.length;
      if (batch && map.deleteBatch) {
        map.deleteBatch(dels.map(([, k]) => k));
        for (const [h] of dels) this.#pending.delete(h);
      } else {
        for (const [h, k] of dels) {
          map.delete(k);
          this.#pending.delete(h);
        }
      }
      this.#st.deletes += dels.length;
      this.#ok();
      return true;
    } catch (e) {
      this.#fail(e);
      return false;
    }
  }

  /**
   * Makes the map hold exactly the desired rows (reads it whole). Returns what it did, or undefined when a
   * write failed (a retry is scheduled).
   */
  fullSync(): ReconcileResult | undefined {
    const map = this.#map;
    if (!map) return { updated: 0, deleted: 0, unchanged: 0 };
    try {
      const res: ReconcileResult = { updated: 0, deleted: 0, unchanged: 0 };
      const present = this.opts.batchRead !== false && map.lookupBatch ? map.lookupBatch() : [...map.entries()];
      const seen = new Set<string>();
      const stale: K[] = [];
      const ups: Array<[K, V]> = [];
      for (const [k, v] of present) {
        const h = this.#hex(k);
        const want = this.#desired.get(h);
        if (!want) {
          stale.push(k);
          continue;
        }
        seen.add(h);
        if (this.#sameValue(want.v, v)) res.unchanged++;
        else ups.push([want.k, want.v]);
      }
      for (const [h, r] of this.#desired) if (!seen.has(h)) ups.push([r.k, r.v]);
      if (ups.length > 0) {
        if (map.updateBatch && ups.length >= (this.opts.batchThreshold ?? 32)) map.updateBatch(ups);
        else for (const [k, v] of ups) map.update(k, v);
      }
      res.updated = ups.length;
      if (stale.length > 0) {
        if (map.deleteBatch && stale.length >= (this.opts.batchThreshold ?? 32)) res.deleted = map.deleteBatch(stale);
        else for (const k of stale) if (map.delete(k)) res.deleted++;
      }
      this.#st.updates += res.updated;
      this.#st.deletes += res.deleted;
      this.#pending.clear();
      this.#needFull = false;
      this.#ok();
      return res;
    } catch (e) {
      this.#needFull = true;
      this.#fail(e);
      return undefined;
    }
  }

  /** Current map contents (for restore); [] without a map. */
  readMap(): Array<[K, V]> {
    const map = this.#map;
    if (!map) return [];
    return this.opts.batchRead !== false && map.lookupBatch ? map.lookupBatch() : [...map.entries()];
  }

  #ok(): void {
    this.#st.successCount++;
    this.#st.consecutiveFailures = 0;
    this.#st.lastSuccess = new Date().toISOString();
    delete this.#st.retryAt;
    this.#delay = this.opts.retryMinMs ?? 100;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fail(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.#st.failureCount++;
    this.#st.consecutiveFailures++;
    this.#st.lastError = err.message;
    this.opts.onError?.(this.name, err);
    if (this.#timer) return;
    const delay = this.#delay;
    this.#delay = Math.min(this.#delay * 2, this.opts.retryMaxMs ?? 30_000);
    this.#st.retryAt = new Date(Date.now() + delay).toISOString();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, delay);
    this.#timer.unref();
  }

  status(): MapReconcilerStatus {
    return { ...this.#st, desired: this.#desired.size, pending: this.#pending.size + (this.#needFull ? 1 : 0) };
  }

  /** Stops retrying (the desired rows stay). */
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
