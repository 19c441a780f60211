import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unmountBpffs } from '@cilium-ts/ebpf';
import type { CtEntry, CtKey4 } from '@cilium-ts/api';
import { Datapath } from './loader.js';
import { ctGc, monotonicNs } from './ct-gc.js';
import { defaultBpfDir } from '../daemon.js';
import { createLogger } from '../log.js';

// The real bpf_lxc.o with its maps pinned in a private bpffs: GC runs against the kernel's LRU map.
describe('conntrack GC on the real CT map', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cilium-ts-ctgc-'));
  const bpfRoot = join(dir, 'bpffs');
  let dp: Datapath;

  beforeAll(() => {
    dp = new Datapath({ bpfDir: defaultBpfDir(), bpfRoot, monitorAggregation: 'medium', log: createLogger('error') });
    dp.start();
  });
  afterAll(() => {
    dp?.close();
    try {
      unmountBpffs(bpfRoot);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const key = (sport: number): CtKey4 => ({ saddr: '10.1.0.2', daddr: '10.1.0.3', sport, dport: 80, proto: 6, flags: 0 });
  const entry = (expires: bigint): CtEntry => ({ expires, packets: 1n, bytes: 60n, created: 0, lastReport: 0, txFlagsSeen: 2, rxFlagsSeen: 0, state: 1, flags: 0, srcEp: 1, dstEp: 2 });

  it('deletes expired entries and keeps live ones', () => {
    const now = monotonicNs();
    const live = Array.from({ length: 300 }, (_, i) => key(20000 + i));
    const dead = Array.from({ length: 200 }, (_, i) => key(30000 + i));
    dp.ct.updateBatch([...live.map((k): [CtKey4, CtEntry] => [k, entry(now + 60_000_000_000n)]), ...dead.map((k): [CtKey4, CtEntry] => [k, entry(now - 1n)])]);
    const r = ctGc(dp.ct, now);
    expect(r).toEqual({ scanned: 500, deleted: 200 });
    expect(dp.ct.lookup(dead[0]!)).toBeUndefined();
    expect(dp.ct.lookup(live[0]!)?.expires).toBe(now + 60_000_000_000n);
    expect(ctGc(dp.ct, now)).toEqual({ scanned: 300, deleted: 0 });
  });
});
