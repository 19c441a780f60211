// ServiceManager against the real LB maps of bpf_lxc.o, loaded by the agent's Datapath on a private bpffs
// mount (pinned, as in the agent). Needs `make -C bpf` with the LB maps in bpf_lxc.o.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfObject, unmountBpffs } from '@cilium-ts/ebpf';
import {
  BE_F_LOCAL,
  BE_STATE_ACTIVE,
  BE_STATE_QUARANTINED,
  BE_STATE_TERMINATING,
  LB_LOOKUP_SCOPE_EXT,
  LB_LOOKUP_SCOPE_INT,
  LB_MAGLEV_LUT_SIZE,
  SVC_F2_DSR,
  SVC_F2_MAGLEV,
  SVC_F_AFFINITY,
  SVC_F_CLUSTERIP,
  SVC_F_EXT_LOCAL,
  SVC_F_INT_LOCAL,
  SVC_F_NODEPORT,
  affinityClientIdOf,
  lb4AffinityKeyCodec,
  lb4BackendCodec,
  lb4KeyCodec,
  lb4MaglevCodec,
  lb4ReverseNatCodec,
  lb4ServiceCodec,
  lb4SkRnatKeyCodec,
  lb4SkRnatValCodec,
  lbAffinityValCodec,
  lbAffinityMatchCodec,
  nat4EntryCodec,
  type KubeProxyReplacementStatus,
  type ServiceSpec,
} from '@cilium-ts/api';
import { defaultBpfDir } from '../daemon.js';
import { Datapath } from '../datapath/loader.js';
import { createLogger } from '../log.js';
import { ServiceManager, type LbMaps } from './service-manager.js';
import { maglevTable } from './maglev.js';

const sfx = randomBytes(3).toString('hex');
const dir = mkdtempSync(join(tmpdir(), `cilium-ts-svc-${sfx}-`));
const bpfRoot = join(dir, 'bpffs');
const log = createLogger('silent' as 'error');
const kpr: KubeProxyReplacementStatus = {
  mode: 'true',
  features: { nodePort: { enabled: true }, hostPort: { enabled: true }, externalIPs: { enabled: true }, hostReachableServices: { enabled: true }, sessionAffinity: { enabled: true } },
};
let dp: Datapath;
let lb: LbMaps;

beforeAll(() => {
  dp = new Datapath({ bpfDir: defaultBpfDir(), bpfRoot, monitorAggregation: 'medium', log });
  dp.start();
  lb = dp.lb;
});
afterAll(() => {
  dp?.close();
  if (existsSync(bpfRoot)) unmountBpffs(bpfRoot);
  rmSync(dir, { recursive: true, force: true });
});

const mgr = (o: Partial<{ algorithm: 'random' | 'maglev'; stateFile: string; nodeName: string; mode: 'snat' | 'dsr' | 'hybrid' }> = {}) =>
  new ServiceManager({ maps: lb, nodeName: o.nodeName ?? 'node-a', algorithm: o.algorithm ?? 'random', mode: o.mode ?? 'snat', kpr, log, ...(o.stateFile ? { stateFile: o.stateFile } : {}) });

const clusterIp = (ip: string, port: number, backends: ServiceSpec['backend-addresses'], flags: Partial<ServiceSpec['flags']> = {}): ServiceSpec => ({
  'frontend-address': { ip, port, protocol: 'TCP' },
  'backend-addresses': backends,
  flags: { type: 'ClusterIP', ...flags },
});

/** Rows of the services map for one frontend, by scope and slot. */
function rows(ip: string, port: number, scope = LB_LOOKUP_SCOPE_EXT) {
  const out = [...lb.services!.entries()].filter(([k]) => k.address === ip && k.dport === port && k.scope === scope).sort(([a], [b]) => a.backendSlot - b.backendSlot);
  return out.map(([k, v]) => ({ slot: k.backendSlot, ...v }));
}
const backendRow = (id: number) => [...lb.backends!.entries()].find(([k]) => k === id)?.[1];
function clearOne<K, V>(m: { entries(): IterableIterator<[K, V]>; delete(k: K): boolean } | undefined): void {
  if (!m) return;
  for (const [k] of [...m.entries()]) m.delete(k);
}
function clearMaps(): void {
  clearOne(lb.services);
  clearOne(lb.backends);
  clearOne(lb.revNat);
  clearOne(lb.maglev);
  clearOne(lb.affinity);
  clearOne(lb.affinityMatch);
}

describe('LB map layouts', () => {
  it('codecs match the BTF of bpf_lxc.o (struct sizes)', () => {
    const obj = BpfObject.open(join(defaultBpfDir(), 'bpf_lxc.o'));
    try {
      const sizes: Array<[string, number]> = [
        ['lb4_key', lb4KeyCodec.size],
        ['lb4_service', lb4ServiceCodec.size],
        ['lb4_backend', lb4BackendCodec.size],
        ['lb4_reverse_nat', lb4ReverseNatCodec.size],
        ['lb4_affinity_key', lb4AffinityKeyCodec.size],
        ['lb_affinity_val', lbAffinityValCodec.size],
        ['lb4_maglev', lb4MaglevCodec.size],
        ['lb4_sk_rnat_key', lb4SkRnatKeyCodec.size],
        ['lb4_sk_rnat_val', lb4SkRnatValCodec.size],
        ['nat4_entry', nat4EntryCodec.size],
        ['lb_affinity_match', lbAffinityMatchCodec.size],
      ];
      for (const [name, size] of sizes) {
        const btf = obj.btfStructSize(name);
        if (btf !== undefined) expect({ name, size: btf }).toEqual({ name, size });
      }
      expect(obj.btfStructSize('lb4_key')).toBe(12);
    } finally {
      obj.close();
    }
  });

  it('bpf_lxc.o has the LB maps', () => {
    expect(lb.services && lb.backends && lb.revNat && lb.maglev && lb.affinity && lb.affinityMatch).toBeTruthy();
  });
});

describe('ServiceManager', () => {
  it('writes a ClusterIP service: master row (count = active), one slot per active backend, backends, rev-NAT', () => {
    clearMaps();
    const m = mgr();
    const r = m.upsertService(clusterIp('10.96.0.10', 80, [{ ip: '10.0.1.1', port: 8080 }, { ip: '10.0.1.2', port: 8080 }, { ip: '10.0.1.3', port: 8080, state: 'terminating' }]));
    expect(r.created).toBe(true);
    const rs = rows('10.96.0.10', 80);
    expect(rs[0]).toMatchObject({ slot: 0, count: 2, revNatIndex: r.id, backendId: 0, flags: SVC_F_CLUSTERIP });
    expect(rs.length).toBe(3);
    const svc = m.get(r.id)!;
    const ids = svc.spec['backend-addresses'].map((b) => b.id!);
    expect(rs.slice(1).map((x) => x.backendId)).toEqual(ids.slice(0, 2));
    // the terminating backend is in the backends map, in no slot
    expect(backendRow(ids[2]!)).toMatchObject({ address: '10.0.1.3', port: 8080, proto: 6, state: BE_STATE_TERMINATING });
    expect(backendRow(ids[0]!)).toMatchObject({ address: '10.0.1.1', state: BE_STATE_ACTIVE });
    expect([...lb.revNat!.entries()]).toContainEqual([r.id, { address: '10.96.0.10', port: 80 }]);
    // same frontend again: same id, not created
    const again = m.upsertService(clusterIp('10.96.0.10', 80, [{ ip: '10.0.1.1', port: 8080 }]));
    expect(again).toEqual({ id: r.id, created: false });
    expect(rows('10.96.0.10', 80).length).toBe(2);
    // backends no service uses are gone
    expect(backendRow(ids[1]!)).toBeUndefined();
    expect(backendRow(ids[2]!)).toBeUndefined();
    m.stop();
  });

  it('uses serving+terminating backends when none is ready; no backends at all -> count 0', () => {
    clearMaps();
    const m = mgr();
    const r = m.upsertService(clusterIp('10.96.0.11', 80, [{ ip: '10.0.2.1', port: 80, state: 'terminating' }, { ip: '10.0.2.2', port: 80, state: 'quarantined' }]));
    expect(rows('10.96.0.11', 80).map((x) => x.count)[0]).toBe(1);
    // in the slots for lack of a ready one: ACTIVE for the datapath, still 'terminating' in the API
    const [t, q] = m.get(r.id)!.spec['backend-addresses'];
    expect(t?.state).toBe('terminating');
    expect(backendRow(t!.id!)?.state).toBe(BE_STATE_ACTIVE);
    expect(backendRow(q!.id!)?.state).toBe(BE_STATE_QUARANTINED);
    // a ready backend comes: the terminating one leaves the slots and is TERMINATING again
    m.upsertService(clusterIp('10.96.0.11', 80, [{ ip: '10.0.2.1', port: 80, state: 'terminating' }, { ip: '10.0.2.3', port: 80 }]));
    expect(backendRow(t!.id!)?.state).toBe(BE_STATE_TERMINATING);
    expect(rows('10.96.0.11', 80)[0]?.count).toBe(1);
    const e = m.upsertService(clusterIp('10.96.0.12', 80, []));
    expect(rows('10.96.0.12', 80)).toEqual([expect.objectContaining({ slot: 0, count: 0, revNatIndex: e.id })]);
    expect(r.id).not.toBe(e.id);
    m.stop();
  });

  it('shares backend ids across services, ref-counted', () => {
    clearMaps();
    const m = mgr();
    const a = m.upsertService(clusterIp('10.96.1.1', 80, [{ ip: '10.0.3.1', port: 80 }]));
    const b = m.upsertService(clusterIp('10.96.1.2', 80, [{ ip: '10.0.3.1', port: 80 }, { ip: '10.0.3.2', port: 80 }]));
    const idA = m.get(a.id)!.spec['backend-addresses'][0]!.id;
    const idB = m.get(b.id)!.spec['backend-addresses'][0]!.id;
    expect(idA).toBe(idB);
    expect(m.deleteServiceById(a.id)).toBe(true);
    expect(backendRow(idA!)).toBeDefined();
    expect(rows('10.96.1.1', 80)).toEqual([]);
    expect(m.deleteServiceByFrontend({ ip: '10.96.1.2', port: 80, protocol: 'TCP' })).toBe(true);
    expect(backendRow(idA!)).toBeUndefined();
    expect([...lb.backends!.entries()]).toEqual([]);
    expect([...lb.revNat!.entries()]).toEqual([]);
    expect(m.deleteServiceById(a.id)).toBe(false);
    m.stop();
  });

  it('internalTrafficPolicy=Local: INT row with node-local backends; externalTrafficPolicy=Local: EXT row local only', () => {
    clearMaps();
    const m = mgr({ nodeName: 'node-a' });
    const bes = [
      { ip: '10.0.4.1', port: 80, nodeName: 'node-a' },
      { ip: '10.0.4.2', port: 80, nodeName: 'node-b' },
      { ip: '10.0.4.3', port: 80, nodeName: 'node-a' },
    ];
    const c = m.upsertService(clusterIp('10.96.2.1', 80, bes, { intTrafficPolicy: 'Local' }));
    expect(rows('10.96.2.1', 80, LB_LOOKUP_SCOPE_EXT)[0]).toMatchObject({ count: 3, flags: SVC_F_CLUSTERIP | SVC_F_INT_LOCAL });
    const int = rows('10.96.2.1', 80, LB_LOOKUP_SCOPE_INT);
    expect(int[0]).toMatchObject({ count: 2, revNatIndex: c.id });
    const local = m.get(c.id)!.spec['backend-addresses'].filter((b) => b.nodeName === 'node-a').map((b) => b.id);
    expect(int.slice(1).map((x) => x.backendId)).toEqual(local);
    expect(backendRow(local[0]!)?.flags).toBe(BE_F_LOCAL);
    const np = m.upsertService({ 'frontend-address': { ip: '0.0.0.0', port: 30080, protocol: 'TCP' }, 'backend-addresses': bes, flags: { type: 'NodePort', extTrafficPolicy: 'Local' } });
    expect(rows('0.0.0.0', 30080)[0]).toMatchObject({ count: 2, flags: SVC_F_NODEPORT | SVC_F_EXT_LOCAL, revNatIndex: np.id });
    // pods and the node still use every backend (Cilium's two scopes)
    expect(rows('0.0.0.0', 30080, LB_LOOKUP_SCOPE_INT)[0]).toMatchObject({ count: 3, revNatIndex: np.id });
    // dropping the policy drops the INT rows
    m.upsertService(clusterIp('10.96.2.1', 80, bes));
    expect(rows('10.96.2.1', 80, LB_LOOKUP_SCOPE_INT)).toEqual([]);
    m.stop();
  });

  it('session affinity: flag and timeout in the master row; affinity rows of a deleted service are removed', () => {
    clearMaps();
    const m = mgr();
    const r = m.upsertService(clusterIp('10.96.3.1', 80, [{ ip: '10.0.5.1', port: 80 }], { sessionAffinity: true, sessionAffinityTimeout: 600 }));
    expect(rows('10.96.3.1', 80)[0]).toMatchObject({ flags: SVC_F_CLUSTERIP | SVC_F_AFFINITY, affinityTimeout: 600 });
    const bid = m.get(r.id)!.spec['backend-addresses'][0]!.id!;
    const key = { clientId: affinityClientIdOf('10.0.9.9'), revNatIndex: r.id, netnsCookie: 0 };
    lb.affinity!.update(key, { lastUsed: 1n, backendId: bid });
    expect([...lb.affinity!.entries()].length).toBe(1);
    m.deleteServiceById(r.id);
    expect([...lb.affinity!.entries()]).toEqual([]);
    m.stop();
  });

  it('session affinity: one match row per (backend, service); a removed backend, lost affinity or a deleted service take their match and affinity rows', () => {
    clearMaps();
    const m = mgr();
    const bes = [1, 2, 3].map((i) => ({ ip: `10.0.5.${i}`, port: 80 }));
    const aff = { sessionAffinity: true, sessionAffinityTimeout: 600 };
    const r = m.upsertService(clusterIp('10.96.3.2', 80, bes, aff));
    const other = m.upsertService(clusterIp('10.96.3.3', 80, bes)); // same backends, no affinity
    const ids = m.get(r.id)!.spec['backend-addresses'].map((b) => b.id!);
    const matches = () => [...lb.affinityMatch!.entries()].map(([k]) => `${k.revNatId}:${k.backendId}`).sort();
    expect(matches()).toEqual(ids.map((b) => `${r.id}:${b}`).sort());
    const client = (n: number, bid: number) => {
      lb.affinity!.update({ clientId: affinityClientIdOf(`10.0.9.${n}`), revNatIndex: r.id, netnsCookie: 0 }, { lastUsed: 1n, backendId: bid });
    };
    ids.forEach((b, i) => client(i + 1, b));
    // backend 1 leaves the service (it stays a backend of the other one): its match row and affinity rows go
    m.upsertService(clusterIp('10.96.3.2', 80, bes.slice(1), aff));
    expect(backendRow(ids[0]!)).toBeDefined();
    expect(matches()).toEqual(ids.slice(1).map((b) => `${r.id}:${b}`).sort());
    expect([...lb.affinity!.entries()].map(([, v]) => v.backendId).sort()).toEqual(ids.slice(1).sort());
    // affinity off: no match rows, no affinity rows
    m.upsertService(clusterIp('10.96.3.2', 80, bes.slice(1)));
    expect(matches()).toEqual([]);
    expect([...lb.affinity!.entries()]).toEqual([]);
    // on again, then the service is deleted
    m.upsertService(clusterIp('10.96.3.2', 80, bes, aff));
    expect(matches().length).toBe(3);
    client(7, ids[2]!);
    m.deleteServiceById(r.id);
    expect(matches()).toEqual([]);
    expect([...lb.affinity!.entries()]).toEqual([]);
    m.deleteServiceById(other.id);
    m.stop();
  });

  it('DSR: dsr flags the external frontends (both protocols), hybrid only their TCP rows; never a ClusterIP', () => {
    const bes = [{ ip: '10.0.7.1', port: 53 }];
    const svcOf = (ip: string, type: 'NodePort' | 'ClusterIP'): ServiceSpec => ({ 'frontend-address': { ip, port: 30053, protocol: 'ANY' }, 'backend-addresses': bes, flags: { type } });
    const flags2 = (ip: string) => [...lb.services!.entries()].filter(([k]) => k.address === ip && k.dport === 30053 && k.backendSlot === 0).map(([k, v]) => [k.proto, v.flags2 & SVC_F2_DSR]).sort((a, b) => a[0]! - b[0]!);
    for (const [mode, want] of [['dsr', [[6, SVC_F2_DSR], [17, SVC_F2_DSR]]], ['hybrid', [[6, SVC_F2_DSR], [17, 0]]], ['snat', [[6, 0], [17, 0]]]] as const) {
      clearMaps();
      const m = mgr({ mode });
      m.upsertService(svcOf('10.0.7.100', 'NodePort'));
      m.upsertService(svcOf('10.96.7.1', 'ClusterIP'));
      expect({ mode, rows: flags2('10.0.7.100') }).toEqual({ mode, rows: want });
      expect(flags2('10.96.7.1')).toEqual([[6, 0], [17, 0]]);
      m.stop();
    }
  });

  it('maglev: SVC_F2_MAGLEV and a full table of the active backends, each with a fair share', () => {
    clearMaps();
    const m = mgr({ algorithm: 'maglev' });
    const bes = [1, 2, 3, 4].map((i) => ({ ip: `10.0.6.${i}`, port: 80 }));
    const r = m.upsertService(clusterIp('10.96.4.1', 80, [...bes, { ip: '10.0.6.9', port: 80, state: 'terminating' }]));
    expect(rows('10.96.4.1', 80)[0]?.flags2).toBe(SVC_F2_MAGLEV);
    const table = [...lb.maglev!.entries()].find(([k]) => k === r.id)?.[1];
    expect(table?.length).toBe(LB_MAGLEV_LUT_SIZE);
    const ids = m.get(r.id)!.spec['backend-addresses'].map((b) => b.id!);
    const counts = new Map<number, number>();
    for (const id of table!) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual(ids.slice(0, 4).sort((a, b) => a - b));
    for (const n of counts.values()) expect(Math.abs(n - LB_MAGLEV_LUT_SIZE / 4)).toBeLessThan(LB_MAGLEV_LUT_SIZE / 20);
    m.deleteServiceById(r.id);
    expect([...lb.maglev!.entries()]).toEqual([]);
    m.stop();
  });

  it('syncAll: exactly these services for the source, others untouched, ids kept', () => {
    clearMaps();
    const m = mgr();
    const api = m.upsertService(clusterIp('10.96.5.100', 80, [{ ip: '10.0.7.100', port: 80 }]), 'api');
    const specs = Array.from({ length: 200 }, (_, i) => clusterIp(`10.96.6.${i % 250}`, 1000 + Math.floor(i / 250), [{ ip: `10.0.8.${i % 250}`, port: 80 }, { ip: '10.0.9.1', port: 80 }]));
    expect(m.syncAll(specs, 'k8s')).toEqual({ updated: 200, deleted: 0 });
    expect(m.list().length).toBe(201);
    const idOf = (ip: string) => m.list().find((s) => s.spec['frontend-address'].ip === ip)?.spec.id;
    const keep = idOf('10.96.6.7');
    expect(m.syncAll(specs.slice(0, 50), 'k8s')).toEqual({ updated: 0, deleted: 150 });
    expect(idOf('10.96.6.7')).toBe(keep);
    expect(m.get(api.id)).toBeDefined();
    expect([...lb.revNat!.entries()].length).toBe(51);
    // 50 services x 3 rows + the api one's 2
    expect([...lb.services!.entries()].length).toBe(152);
    // a bad spec: nothing changes
    expect(() => m.syncAll([...specs.slice(0, 10), clusterIp('10.96.6.300', 80, [])], 'k8s')).toThrow(/IPv4/);
    expect(m.list().length).toBe(51);
    m.stop();
  });

  it('refuses bad input with a code and changes nothing', () => {
    clearMaps();
    const m = mgr();
    const bad: unknown[] = [
      {},
      clusterIp('10.96.7.1', 0, []),
      clusterIp('10.96.7.1', 80, [{ ip: 'x', port: 80 }]),
      { ...clusterIp('10.96.7.1', 80, []), flags: { type: 'Bogus' } },
      clusterIp('10.96.7.1', 80, [{ ip: '10.0.0.1', port: 80 }, { ip: '10.0.0.1', port: 80 }]),
      { ...clusterIp('10.96.7.1', 80, []), 'frontend-address': { ip: '10.96.7.1', port: 80, protocol: 'SCTP' } },
    ];
    for (const b of bad) expect(() => m.upsertService(b as ServiceSpec)).toThrow(expect.objectContaining({ code: 'SERVICE_INVALID', status: 400 }));
    expect(m.list()).toEqual([]);
    expect([...lb.services!.entries()]).toEqual([]);
    const a = m.upsertService({ ...clusterIp('10.96.7.2', 80, []), id: 77 });
    expect(a.id).toBe(77);
    expect(() => m.upsertService({ ...clusterIp('10.96.7.3', 80, []), id: 77 })).toThrow(expect.objectContaining({ code: 'SERVICE_ID_IN_USE' }));
    m.stop();
  });

  it('restores from the pinned maps and the state file after a restart; stale rows are removed', () => {
    clearMaps();
    const stateFile = join(dir, `services-${randomBytes(2).toString('hex')}.json`);
    const m1 = mgr({ stateFile });
    const a = m1.upsertService(clusterIp('10.96.8.1', 80, [{ ip: '10.0.10.1', port: 80 }, { ip: '10.0.10.2', port: 80, state: 'terminating' }], { name: 'web', namespace: 'default' }), 'k8s');
    const b = m1.upsertService(clusterIp('10.96.8.2', 53, [{ ip: '10.0.10.3', port: 53 }]), 'api');
    const beIds = m1.get(a.id)!.spec['backend-addresses'].map((x) => x.id);
    m1.stop();
    // garbage a previous agent left behind
    lb.services!.update({ address: '10.96.8.99', dport: 1, backendSlot: 0, proto: 6, scope: 0 }, { backendId: 0, affinityTimeout: 0, count: 0, revNatIndex: 999, flags: 1, flags2: 0 });
    lb.revNat!.update(999, { address: '10.96.8.99', port: 1 });
    const m2 = mgr({ stateFile });
    const r = m2.restore();
    expect(r.services).toBe(3); // 2 from the file + the stray one found only in the maps
    expect(m2.get(a.id)?.spec.flags.name).toBe('web');
    expect(m2.get(a.id)?.spec['backend-addresses'].map((x) => x.id)).toEqual(beIds);
    expect(m2.get(b.id)?.spec['frontend-address'].port).toBe(53);
    expect(m2.syncAll([clusterIp('10.96.8.1', 80, [{ ip: '10.0.10.1', port: 80 }])], 'k8s', { dropRestored: false })).toEqual({ updated: 1, deleted: 0 });
    expect(m2.list().length).toBe(3);
    // the first full sync that may claim them drops the unclaimed restored one
    expect(m2.syncAll([clusterIp('10.96.8.1', 80, [{ ip: '10.0.10.1', port: 80 }])], 'k8s')).toEqual({ updated: 0, deleted: 1 });
    expect([...lb.revNat!.entries()].map(([k]) => k).sort((x, y) => x - y)).toEqual([a.id, b.id].sort((x, y) => x - y));
    expect(backendRow(beIds[1]!)).toBeUndefined();
    m2.stop();
    // without a state file: rebuilt from the map rows (active backends)
    const m3 = mgr();
    m3.restore();
    expect(m3.list().map((s) => s.spec.id).sort()).toEqual([a.id, b.id].sort());
    expect(m3.get(a.id)?.spec['backend-addresses'].map((x) => x.ip)).toEqual(['10.0.10.1']);
    m3.stop();
  });

  it('the state file alone (maps wiped) gives back every service with its id, source and spec', () => {
    clearMaps();
    const stateFile = join(dir, `services-${randomBytes(2).toString('hex')}.json`);
    const m1 = mgr({ stateFile });
    const a = m1.upsertService(clusterIp('10.96.8.11', 80, [{ ip: '10.0.10.11', port: 80 }, { ip: '10.0.10.12', port: 80, state: 'terminating' }], { name: 'web2', namespace: 'default' }), 'k8s');
    const b = m1.upsertService({ ...clusterIp('10.96.8.12', 53, [{ ip: '10.0.10.13', port: 53 }]), id: 4321 }, 'api');
    const before = m1.list().map((x) => ({ ...x, spec: { ...x.spec, 'backend-addresses': x.spec['backend-addresses'].map(({ id: _id, ...rest }) => rest) } }));
    m1.stop();
    clearMaps();
    const m2 = mgr({ stateFile });
    expect(m2.restore()).toEqual({ services: 2, fromMaps: 0 });
    expect(m2.get(b.id)?.spec.id).toBe(4321);
    expect(m2.get(a.id)?.spec.flags.name).toBe('web2');
    const after = m2.list().map((x) => ({ ...x, spec: { ...x.spec, 'backend-addresses': x.spec['backend-addresses'].map(({ id: _id, ...rest }) => rest) } }));
    expect(after).toEqual(before);
    // and the k8s sync that follows finds nothing to change
    expect(m2.syncAll([clusterIp('10.96.8.11', 80, [{ ip: '10.0.10.11', port: 80 }, { ip: '10.0.10.12', port: 80, state: 'terminating' }], { name: 'web2', namespace: 'default' })], 'k8s')).toEqual({ updated: 0, deleted: 0 });
    m2.stop();
    clearMaps();
  });

  it('without the LB maps: keeps and lists services, says they are not programmed', () => {
    const m = new ServiceManager({ maps: {}, nodeName: 'n', algorithm: 'random', mode: 'snat', kpr, log });
    const r = m.upsertService(clusterIp('10.96.9.1', 80, [{ ip: '10.0.11.1', port: 80 }]));
    expect(m.get(r.id)).toBeDefined();
    expect(m.programmed).toBe(false);
    expect(m.status().messages?.join(' ')).toMatch(/not programmed/);
    m.stop();
  });
});

describe('maglevTable', () => {
  it('depends on the backend set only, and moves few entries when one backend goes', () => {
    const bs = Array.from({ length: 10 }, (_, i) => ({ id: i + 1, hashKey: `10.1.0.${i + 1}:80` }));
    const t1 = maglevTable(bs);
    expect(maglevTable([...bs].reverse())).toEqual(t1);
    expect(t1.every((x) => x >= 1 && x <= 10)).toBe(true);
    const t2 = maglevTable(bs.filter((b) => b.id !== 4));
    let moved = 0;
    for (let i = 0; i < t1.length; i++) if (t1[i] !== 4 && t1[i] !== t2[i]) moved++;
    // only the removed backend's share must move; Maglev keeps the others' disruption small
    expect(moved / t1.length).toBeLessThan(0.1);
    expect(maglevTable([]).every((x) => x === 0)).toBe(true);
  });
});
