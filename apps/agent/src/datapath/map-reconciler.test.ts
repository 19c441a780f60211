// The generic reconciler against a real pinned map (cilium_lb4_reverse_nat of bpf_lxc.o on a private bpffs).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unmountBpffs, type TypedMap } from '@cilium-ts/ebpf';
import { LB_SERVICE_MAP_SIZE, lb4KeyCodec, lb4ReverseNatCodec, lb4ServiceCodec, u16KeyCodec, type Lb4Key, type Lb4ReverseNat, type Lb4Service } from '@cilium-ts/api';
import { defaultBpfDir } from '../daemon.js';
import { createLogger } from '../log.js';
import { Datapath } from './loader.js';
import { MapReconciler } from './map-reconciler.js';

const sfx = randomBytes(3).toString('hex');
const dir = mkdtempSync(join(tmpdir(), `cilium-ts-mr-${sfx}-`));
const bpfRoot = join(dir, 'bpffs');
const log = createLogger('silent' as 'error');
let dp: Datapath;
let map: TypedMap<number, Lb4ReverseNat>;

beforeAll(() => {
  dp = new Datapath({ bpfDir: defaultBpfDir(), bpfRoot, monitorAggregation: 'medium', log });
  dp.start();
  map = dp.lb.revNat as TypedMap<number, Lb4ReverseNat>;
});
afterAll(() => {
  dp?.close();
  if (existsSync(bpfRoot)) unmountBpffs(bpfRoot);
  rmSync(dir, { recursive: true, force: true });
});

const rn = (i: number): Lb4ReverseNat => ({ address: `10.96.${(i >> 8) & 255}.${i & 255}`, port: 80 });
const rows = () => new Map(map.lookupBatch());

describe('MapReconciler', () => {
  it('fullSync: writes missing and different rows, deletes undesired ones (batch ops), counts them', () => {
    map.clear();
    for (let i = 1; i <= 100; i++) map.update(i, rn(i));
    map.update(7, { address: '1.2.3.4', port: 1 });
    const r = new MapReconciler('revnat', map, u16KeyCodec, lb4ReverseNatCodec);
    for (let i = 51; i <= 150; i++) r.set(i, rn(i));
    expect(r.fullSync()).toEqual({ updated: 50, deleted: 50, unchanged: 50 });
    const m = rows();
    expect(m.size).toBe(100);
    expect(m.get(51)).toEqual(rn(51));
    expect(m.get(150)).toEqual(rn(150));
    expect(m.has(7)).toBe(false);
    expect(r.status()).toMatchObject({ desired: 100, pending: 0, updates: 50, deletes: 50, consecutiveFailures: 0 });
    // incremental: only what changed
    r.delete(60);
    r.set(61, { address: '10.1.1.1', port: 8 });
    r.set(62, rn(62)); // unchanged: not pending
    expect(r.pendingCount).toBe(2);
    expect(r.flush()).toBe(true);
    expect(rows().has(60)).toBe(false);
    expect(rows().get(61)).toEqual({ address: '10.1.1.1', port: 8 });
    r.stop();
  });

  it('a failed write stays pending and is retried with backoff until the map takes it', async () => {
    const svc = dp.lb.services as TypedMap<Lb4Key, Lb4Service>;
    svc.clear();
    // the map is full of rows nobody manages: the next insert fails (E2BIG)
    const key = (i: number): Lb4Key => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, dport: 80, backendSlot: 0, proto: 6, scope: 0 });
    const val: Lb4Service = { backendId: 0, affinityTimeout: 0, count: 0, revNatIndex: 1, flags: 1, flags2: 0 };
    const junk: Array<[Lb4Key, Lb4Service]> = [];
    for (let i = 0; i < LB_SERVICE_MAP_SIZE; i++) junk.push([key(i), val]);
    svc.updateBatch(junk);
    const errors: string[] = [];
    const r = new MapReconciler('services', svc, lb4KeyCodec, lb4ServiceCodec, { retryMinMs: 20, onError: (_, e) => errors.push(e.message) });
    const want: Lb4Key = { address: '10.250.0.1', dport: 443, backendSlot: 0, proto: 6, scope: 0 };
    r.set(want, { ...val, revNatIndex: 9 });
    expect(r.flush()).toBe(false);
    expect(errors[0]).toMatch(/update on map cilium_lb4_services_v2/);
    expect(r.status()).toMatchObject({ pending: 1, failureCount: 1, consecutiveFailures: 1 });
    expect(r.status().retryAt).toBeDefined();
    // room again: the scheduled retry writes it, without anyone calling flush
    svc.delete(key(12345));
    for (let i = 0; i < 500 && svc.lookup(want) === undefined; i++) await new Promise((res) => setTimeout(res, 20));
    expect(svc.lookup(want)?.revNatIndex).toBe(9);
    expect(r.status()).toMatchObject({ pending: 0, consecutiveFailures: 0 });
    expect(r.status().failureCount).toBeGreaterThanOrEqual(1);
    r.stop();
    svc.clear();
  });
});
