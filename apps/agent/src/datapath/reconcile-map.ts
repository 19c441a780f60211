import type { Codec } from '@cilium-ts/api';

/** The part of a typed BPF map handle the reconciler needs. */
export interface ReconcilableMap<K, V> {
  entries(): IterableIterator<[K, V]>;
  update(k: K, v: V): void;
  delete(k: K): boolean;
}

export interface ReconcileResult {
  updated: number;
  deleted: number;
  unchanged: number;
}

/**
 * Makes a BPF map hold exactly the desired rows: writes rows that are missing or differ, deletes rows
 * nobody wants. Rows are compared by their encoded bytes so that codecs define equality.
 */
export function reconcileMap<K, V>(map: ReconcilableMap<K, V>, desired: Iterable<[K, V]>, key: Codec<K>, value: Codec<V>): ReconcileResult {
  const enc = <T>(c: Codec<T>, v: T): string => {
    const b = Buffer.alloc(c.size);
    c.encode(v, b, 0);
    return b.toString('hex');
  };
  const want = new Map<string, [K, V, string]>();
  for (const [k, v] of desired) want.set(enc(key, k), [k, v, enc(value, v)]);
  const res: ReconcileResult = { updated: 0, deleted: 0, unchanged: 0 };
  const stale: K[] = [];
  const seen = new Set<string>();
  for (const [k, v] of map.entries()) {
    const ks = enc(key, k);
    const w = want.get(ks);
    if (!w) {
      stale.push(k);
      continue;
    }
    seen.add(ks);
    if (w[2] === enc(value, v)) res.unchanged++;
    else {
      map.update(w[0], w[1]);
      res.updated++;
    }
  }
  for (const k of stale) if (map.delete(k)) res.deleted++;
  for (const [ks, [k, v]] of want) {
    if (seen.has(ks)) continue;
    map.update(k, v);
    res.updated++;
  }
  return res;
}
