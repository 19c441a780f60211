// NodeManager against the real thing: cilium_tunnel_map from bpf_lxc.o (loaded by the agent's Datapath on a
// private bpffs mount) and kernel routes in a network namespace this file creates. Needs `make -C bpf`.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unmountBpffs } from '@cilium-ts/ebpf';
import { createNetns, deleteNetns, netnsPath, Netlink } from '@cilium-ts/netlink';
import { defaultBpfDir } from '../daemon.js';
import { Datapath } from '../datapath/loader.js';
import { createLogger } from '../log.js';
import { NodeManager, ROUTE_PROTOCOL_NODE } from './node-manager.js';

const sfx = randomBytes(3).toString('hex');
const ns = `nmt-${sfx}`;
const dir = mkdtempSync(join(tmpdir(), `cilium-ts-nm-${sfx}-`));
const bpfRoot = join(dir, 'bpffs');
const log = createLogger('silent' as 'error');
let nl: Netlink;
let dp: Datapath;

const routes = () =>
  (JSON.parse(execFileSync('ip', ['-n', ns, '-j', 'route', 'show', 'proto', String(ROUTE_PROTOCOL_NODE)], { encoding: 'utf8' }) || '[]') as Array<{ dst: string; gateway: string; metrics?: Array<{ mtu?: number }> }>).map(
    (r) => `${r.dst} via ${r.gateway}`,
  );
const tunnelRows = () => [...dp.tunnel.entries()].map(([k, v]) => `${k.ip}/${k.prefixLen} -> ${v.remoteIp}`).sort();

beforeAll(() => {
  createNetns(ns);
  nl = Netlink.open({ netnsPath: netnsPath(ns) });
  // an underlay: 172.31.0.1/24 on a veth (the gateways of native routes must be on-link)
  execFileSync('ip', ['-n', ns, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul1']);
  execFileSync('ip', ['-n', ns, 'addr', 'add', '172.31.0.1/24', 'dev', 'ul0']);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'ul0', 'up']);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'ul1', 'up']);
  dp = new Datapath({ bpfDir: defaultBpfDir(), bpfRoot, monitorAggregation: 'medium', log });
  dp.start();
});
afterAll(() => {
  dp?.close();
  nl?.close();
  deleteNetns(ns);
  if (existsSync(bpfRoot)) unmountBpffs(bpfRoot);
  rmSync(dir, { recursive: true, force: true });
});

const n2 = { name: 'n2', ip: '172.31.0.2', podCIDRs: ['10.77.2.0/24'] };
const n3 = { name: 'n3', ip: '172.31.0.3', podCIDRs: ['10.77.3.0/24', '10.78.0.0/16'] };
const opts = (routingMode: 'tunnel' | 'native') => ({ routingMode, localNodeName: 'n1', localNodeIp: '172.31.0.1', localPodCidrs: ['10.77.1.0/24'], netlink: nl, tunnelMap: dp.tunnel, routeMtu: 1450, log });

describe('NodeManager, tunnel mode', () => {
  it('keeps one tunnel row per remote pod CIDR; itself and clashing CIDRs left out', () => {
    const m = new NodeManager(opts('tunnel'));
    m.replaceAll([n2, n3, { name: 'n1', ip: '172.31.0.1', podCIDRs: ['10.77.1.0/24'] }, { name: 'bad', ip: '172.31.0.9', podCIDRs: ['10.77.1.128/25'] }]);
    expect(tunnelRows()).toEqual(['10.77.2.0/24 -> 172.31.0.2', '10.77.3.0/24 -> 172.31.0.3', '10.78.0.0/16 -> 172.31.0.3']);
    expect(routes()).toEqual([]);
    m.upsert({ ...n2, ip: '172.31.0.22' });
    expect(tunnelRows()).toContain('10.77.2.0/24 -> 172.31.0.22');
    expect(m.delete('n3')).toBe(true);
    expect(m.delete('n3')).toBe(false);
    expect(tunnelRows()).toEqual(['10.77.2.0/24 -> 172.31.0.22']);
  });

  it('after a restart, only adds until it has heard of every node; then removes the rest', () => {
    // what a previous agent left behind: n2 (still there) and n3 (gone meanwhile)
    dp.tunnel.update({ ip: '10.77.3.0', prefixLen: 24 }, { remoteIp: '172.31.0.3', flags: 0 });
    const m = new NodeManager(opts('tunnel'));
    m.upsert(n2);
    expect(tunnelRows()).toEqual(['10.77.2.0/24 -> 172.31.0.2', '10.77.3.0/24 -> 172.31.0.3']);
    m.markSynced();
    expect(tunnelRows()).toEqual(['10.77.2.0/24 -> 172.31.0.2']);
    m.replaceAll([]);
    expect(tunnelRows()).toEqual([]);
  });
});

describe('NodeManager, native mode', () => {
  it('routes each remote pod CIDR via its node, empties the tunnel map, and removes routes of removed nodes', () => {
    dp.tunnel.update({ ip: '10.77.9.0', prefixLen: 24 }, { remoteIp: '172.31.0.9', flags: 0 });
    const m = new NodeManager(opts('native'));
    m.replaceAll([n2, n3]);
    expect(tunnelRows()).toEqual([]);
    expect(routes().sort()).toEqual(['10.77.2.0/24 via 172.31.0.2', '10.77.3.0/24 via 172.31.0.3', '10.78.0.0/16 via 172.31.0.3']);
    expect(nl.routes({ family: 4 }).find((r) => r.dst === '10.77.2.0/24')?.mtu).toBe(1450);
    m.upsert({ ...n2, ip: '172.31.0.22' });
    expect(routes()).toContain('10.77.2.0/24 via 172.31.0.22');
    m.replaceAll([n2]);
    expect(routes()).toEqual(['10.77.2.0/24 via 172.31.0.2']);
    // a new manager (agent restart) adopts the route as it is, and a later listing without n2 removes it
    const again = new NodeManager(opts('native'));
    expect(again.upsert(n2).routes).toEqual({ added: 0, deleted: 0, failed: 0 });
    again.markSynced();
    again.delete('n2');
    expect(routes()).toEqual([]);
  });

  it('reports a node whose address is not on the underlay', () => {
    const m = new NodeManager(opts('native'));
    const r = m.replaceAll([{ name: 'far', ip: '172.16.99.9', podCIDRs: ['10.79.0.0/24'] }]);
    expect(r.routes.failed).toBe(1);
    expect(m.status().lastError).toMatch(/could not be installed/);
    expect(routes()).toEqual([]);
  });
});
