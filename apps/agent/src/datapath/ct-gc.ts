import type { CtEntry, CtKey4 } from '@cilium-ts/api';

/** The part of the CT map handle GC needs. */
export interface CtTable {
  lookupBatch(): Array<[CtKey4, CtEntry]>;
  deleteBatch(keys: CtKey4[]): number;
}

export interface CtGcResult {
  scanned: number;
  deleted: number;
}

/** CLOCK_MONOTONIC in ns, the clock of bpf_ktime_get_ns(). */
export const monotonicNs = (): bigint => process.hrtime.bigint();

/** Deletes every CT entry whose deadline has passed. The datapath never expires entries itself. */
export function ctGc(ct: CtTable, now: bigint = monotonicNs()): CtGcResult {
  const rows = ct.lookupBatch();
  const expired = rows.filter(([, v]) => v.expires <= now).map(([k]) => k);
  const deleted = expired.length > 0 ? ct.deleteBatch(expired) : 0;
  return { scanned: rows.length, deleted };
}
