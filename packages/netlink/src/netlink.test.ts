// Real kernel: every object lives in network namespaces this file creates (unique names) and is
// checked twice, through the library's own dumps and through `ip -j`. Traffic stays inside them.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteNetns, netnsPath } from './named-netns.js';
import { Netlink } from './netlink.js';
import { NetlinkError } from './netlink-error.js';
import { closeNetns, netnsInode, openNetns } from './netns.js';
import { sysctlInNetns } from './sysctl.js';

const sfx = randomBytes(3).toString('hex');
const nsHost = `nlt-h-${sfx}`;
const nsPod = `nlt-p-${sfx}`;
const nsPod2 = `nlt-q-${sfx}`;
const hostVeth = `vh${sfx}`;
const podVeth = `vp${sfx}`;

let h: Netlink; // socket in nsHost
let p: Netlink; // socket in nsPod
let q: Netlink; // socket in nsPod2
let podFd: number;
let pod2Fd: number;

function ipj<T = Array<Record<string, unknown>>>(ns: string, ...args: string[]): T {
  const out = execFileSync('ip', ['-n', ns, '-j', ...args], { encoding: 'utf8' }).trim();
  return JSON.parse(out === '' ? '[]' : out) as T;
}
function inNs(ns: string, ...cmd: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function catchErr(fn: () => unknown): NetlinkError {
  try {
    fn();
  } catch (e) {
    if (e instanceof NetlinkError) return e;
    throw e;
  }
  throw new Error('expected a NetlinkError');
}
function mustLink(nl: Netlink, name: string) {
  const l = nl.linkByName(name);
  if (!l) throw new Error(`link ${name} missing`);
  return l;
}

beforeAll(() => {
  createNetns(nsHost);
  createNetns(nsPod);
  createNetns(nsPod2);
  h = Netlink.open({ netnsPath: netnsPath(nsHost) });
  podFd = openNetns(netnsPath(nsPod));
  pod2Fd = openNetns(netnsPath(nsPod2));
  p = Netlink.open({ netnsFd: podFd });
  q = Netlink.open({ netnsPath: netnsPath(nsPod2) });
});

afterAll(() => {
  for (const nl of [h, p, q]) nl?.close();
  for (const fd of [podFd, pod2Fd]) if (fd !== undefined) closeNetns(fd);
  for (const ns of [nsHost, nsPod, nsPod2]) deleteNetns(ns);
});

describe('Netlink.open', () => {
  it('binds each socket to its netns; the thread stays home', () => {
    const home = netnsInode();
    const nl = Netlink.open({ netnsPath: netnsPath(nsHost) });
    expect(netnsInode()).toBe(home);
    // a fresh netns has only lo (down); the sockets see different namespaces
    expect(nl.links().map((l) => l.name)).toEqual(['lo']);
    expect(mustLink(nl, 'lo').up).toBe(false);
    nl.close();
    expect(nl.closed).toBe(true);
    expect(catchErr(() => nl.links()).code).toBe('NETLINK_CLOSED');
    expect(catchErr(() => Netlink.open({ netnsPath: '/x', netnsFd: 3 })).code).toBe('NETLINK_INVALID_ARGUMENT');
    expect(catchErr(() => Netlink.open({ netnsPath: `/run/netns/nlt-none-${sfx}` })).code).toBe('NETLINK_ENOENT');
  });
});

describe('veth with the peer created in another netns', () => {
  it('creates both ends with the requested names, MACs and MTU', () => {
    h.createVeth({ name: hostVeth, peerName: podVeth, peerNetnsFd: podFd, mtu: 1400, mac: '02:00:00:aa:00:01', peerMac: '02:00:00:bb:00:02' });
    const hl = mustLink(h, hostVeth);
    const pl = mustLink(p, podVeth);
    expect(hl).toMatchObject({ kind: 'veth', mtu: 1400, mac: '02:00:00:aa:00:01', up: false });
    expect(pl).toMatchObject({ kind: 'veth', mtu: 1400, mac: '02:00:00:bb:00:02', up: false });
    expect(hl.peerIndex).toBe(pl.index);
    expect(pl.peerIndex).toBe(hl.index);
    expect(hl.linkNetnsId).toBeTypeOf('number');
    // the peer never lives in the host netns
    expect(h.linkByName(podVeth)).toBeUndefined();
    expect(p.linkByName(hostVeth)).toBeUndefined();
    // by index, and in the dumps
    expect(h.linkByIndex(hl.index)?.name).toBe(hostVeth);
    expect(h.links().map((l) => l.name)).toContain(hostVeth);
    // what ip sees
    const [ih] = ipj(nsHost, '-d', 'link', 'show', 'dev', hostVeth);
    expect(ih).toMatchObject({ ifname: hostVeth, mtu: 1400, address: '02:00:00:aa:00:01', linkinfo: { info_kind: 'veth' } });
    expect(ih?.link_netnsid).toBe(hl.linkNetnsId);
    const [ip] = ipj(nsPod, '-d', 'link', 'show', 'dev', podVeth);
    expect(ip).toMatchObject({ ifname: podVeth, ifindex: pl.index, mtu: 1400, address: '02:00:00:bb:00:02' });
  });

  it('refuses a duplicate with NETLINK_EEXIST and reports missing devices', () => {
    const dup = catchErr(() => h.createVeth({ name: hostVeth, peerName: `vx${sfx}` }));
    expect(dup.code).toBe('NETLINK_EEXIST');
    expect(dup.errno).toBe(17);
    expect(dup.hint).toMatch(/already exists/);
    expect(dup.message).toContain(hostVeth);
    expect(h.linkByName(`vx${sfx}`)).toBeUndefined();
    // the peer's name is taken in the target netns: nothing is left behind on this side
    const peerDup = catchErr(() => h.createVeth({ name: `vw${sfx}`, peerName: podVeth, peerNetnsFd: podFd }));
    expect(peerDup.code).toBe('NETLINK_EEXIST');
    expect(h.linkByName(`vw${sfx}`)).toBeUndefined();

    expect(h.linkByName(`nope${sfx}`)).toBeUndefined();
    expect(h.linkByIndex(0x7ffffff0)).toBeUndefined();
    expect(h.deleteLink(`nope${sfx}`)).toBe(false);
    expect(h.deleteLink(0x7ffffff0)).toBe(false);
    const nodev = catchErr(() => h.setLinkUp(0x7ffffff0));
    expect(nodev.code).toBe('NETLINK_ENODEV');
    expect(nodev.errno).toBe(19);
    expect(nodev.hint).toMatch(/netns/);
    expect(catchErr(() => h.requireLink(`nope${sfx}`)).code).toBe('NETLINK_ENODEV');
    expect(catchErr(() => h.createVeth({ name: 'this-name-is-too-long', peerName: 'x' })).code).toBe('NETLINK_INVALID_ARGUMENT');
    expect(catchErr(() => h.createVeth({ name: `vy${sfx}`, peerName: `vz${sfx}`, mac: 'nope' })).code).toBe('NETLINK_INVALID_ARGUMENT');
  });

  it('carries the kernel extended-ack message', () => {
    const idx = mustLink(h, hostVeth).index;
    const e = catchErr(() => h.setMtu(idx, 70000));
    expect(e.code).toBe('NETLINK_EINVAL');
    expect(e.kernelMessage).toMatch(/mtu/i);
    expect(e.message).toContain('mtu greater than device maximum');
  });

  it('brings links up, adds addresses, and pings across the pair', () => {
    const hl = mustLink(h, hostVeth);
    const pl = mustLink(p, podVeth);
    h.setLinkUp(hl.index);
    p.setLinkUp(pl.index);
    p.setLinkUp(mustLink(p, 'lo').index);
    expect(mustLink(h, hostVeth).up).toBe(true);
    expect(mustLink(p, podVeth).up).toBe(true);

    h.addAddress(hl.index, '10.231.0.1/24');
    p.addAddress(pl.index, '10.231.0.2/24');
    const dup = catchErr(() => p.addAddress(pl.index, '10.231.0.2/24'));
    expect(dup.code).toBe('NETLINK_EEXIST');
    expect(h.addresses(hl.index).filter((a) => a.family === 4)).toEqual([
      expect.objectContaining({ index: hl.index, family: 4, ip: '10.231.0.1', prefixLen: 24, cidr: '10.231.0.1/24', scope: 'universe' }),
    ]);
    const [ia] = ipj<Array<{ addr_info: Array<{ family: string; local: string; prefixlen: number }> }>>(nsPod, 'addr', 'show', 'dev', podVeth);
    expect(ia?.addr_info.filter((x) => x.family === 'inet')).toEqual([expect.objectContaining({ local: '10.231.0.2', prefixlen: 24 })]);
    // the kernel added the prefix route; our dump filtered by ifindex sees it
    expect(p.routes({ ifindex: pl.index, family: 4 })).toEqual([
      expect.objectContaining({ dst: '10.231.0.0/24', scope: 'link', protocol: 2, src: '10.231.0.2', table: 254 }),
    ]);
    expect(inNs(nsPod, 'ping', '-c', '1', '-W', '2', '10.231.0.1')).toMatch(/1 received/);
    expect(inNs(nsHost, 'ping', '-c', '1', '-W', '2', '10.231.0.2')).toMatch(/1 received/);
    // after traffic the host has learned the pod's MAC
    expect(h.neighbours(hl.index)).toContainEqual(expect.objectContaining({ ip: '10.231.0.2', mac: '02:00:00:bb:00:02', permanent: false }));
  });

  it('deletes addresses (false when absent) and honours noprefixroute and IPv6 nodad', () => {
    const idx = mustLink(p, podVeth).index;
    p.addAddress(idx, '10.233.0.1/24', { noprefixroute: true });
    p.addAddress(idx, '10.234.0.1/24');
    const routes = p.routes({ family: 4 }).map((r) => r.dst);
    expect(routes).toContain('10.234.0.0/24');
    expect(routes).not.toContain('10.233.0.0/24');
    const np = p.addresses(idx).find((a) => a.ip === '10.233.0.1');
    expect((np?.flags ?? 0) & 0x200).toBe(0x200);
    const [ia] = ipj<Array<{ addr_info: Array<Record<string, unknown>> }>>(nsPod, 'addr', 'show', 'dev', podVeth);
    expect(ia?.addr_info.find((x) => x.local === '10.233.0.1')).toMatchObject({ noprefixroute: true });

    p.addAddress(idx, 'fd00:231::2/64', { nodad: true });
    const v6 = p.addresses(idx).find((a) => a.family === 6 && a.ip === 'fd00:231::2');
    expect(v6).toMatchObject({ prefixLen: 64, cidr: 'fd00:231::2/64' });
    const [i6] = ipj<Array<{ addr_info: Array<Record<string, unknown>> }>>(nsPod, '-6', 'addr', 'show', 'dev', podVeth);
    const e6 = i6?.addr_info.find((x) => x.local === 'fd00:231::2');
    expect(e6).toBeDefined();
    expect(e6?.tentative).toBeUndefined();

    expect(p.deleteAddress(idx, '10.233.0.1/24')).toBe(true);
    expect(p.deleteAddress(idx, '10.233.0.1/24')).toBe(false);
    expect(p.deleteAddress(idx, '10.234.0.1/24')).toBe(true);
    expect(p.deleteAddress(idx, 'fd00:231::2/64')).toBe(true);
    expect(p.deleteAddress(idx, 'fd00:231::2/64')).toBe(false);
    expect(p.addresses(idx).map((a) => a.ip)).not.toContain('10.234.0.1');
    const [after] = ipj<Array<{ addr_info: Array<Record<string, unknown>> }>>(nsPod, 'addr', 'show', 'dev', podVeth);
    expect(after?.addr_info.map((x) => x.local)).not.toContain('10.233.0.1');
  });

  it('adds, lists, replaces and deletes routes (table, metric, MTU, src, onlink)', () => {
    const idx = mustLink(p, podVeth).index;
    p.addRoute({ dst: '10.240.0.0/16', gateway: '10.231.0.1', ifindex: idx, table: 100, mtu: 1300, priority: 50, src: '10.231.0.2' });
    const dup = catchErr(() => p.addRoute({ dst: '10.240.0.0/16', gateway: '10.231.0.1', ifindex: idx, table: 100, priority: 50 }));
    expect(dup.code).toBe('NETLINK_EEXIST');
    expect(p.routes({ table: 100 })).toEqual([
      expect.objectContaining({ family: 4, dst: '10.240.0.0/16', gateway: '10.231.0.1', ifindex: idx, table: 100, mtu: 1300, priority: 50, src: '10.231.0.2', protocol: 4, scope: 'universe', onlink: false }),
    ]);
    // the main table does not show it, table 0 means all
    expect(p.routes().map((r) => r.dst)).not.toContain('10.240.0.0/16');
    expect(p.routes({ table: 0 }).map((r) => r.dst)).toContain('10.240.0.0/16');
    const [ir] = ipj(nsPod, 'route', 'show', 'table', '100');
    expect(ir).toMatchObject({ dst: '10.240.0.0/16', gateway: '10.231.0.1', dev: podVeth, protocol: 'static', metric: 50, prefsrc: '10.231.0.2', metrics: [{ mtu: 1300 }] });

    // a gateway with no route to it is refused unless onlink
    const unreach = catchErr(() => p.addRoute({ dst: '10.241.0.0/16', gateway: '169.254.1.1', ifindex: idx, table: 100 }));
    expect(unreach.code).toBe('NETLINK_ENETUNREACH');
    expect(unreach.hint).toMatch(/onlink/);
    expect(unreach.kernelMessage).toMatch(/gateway/i);
    p.addRoute({ dst: '10.241.0.0/16', gateway: '169.254.1.1', ifindex: idx, table: 100, onlink: true });
    expect(p.routes({ table: 100 }).find((r) => r.dst === '10.241.0.0/16')).toMatchObject({ onlink: true, gateway: '169.254.1.1' });
    const onl = ipj(nsPod, 'route', 'show', 'table', '100').find((r) => r.dst === '10.241.0.0/16');
    expect(onl?.flags).toContain('onlink');

    // replace changes the route in place
    p.addRoute({ dst: '10.241.0.0/16', gateway: '169.254.1.1', ifindex: idx, table: 100, onlink: true, mtu: 1200, replace: true });
    expect(p.routes({ table: 100 }).filter((r) => r.dst === '10.241.0.0/16')).toEqual([expect.objectContaining({ mtu: 1200 })]);

    expect(p.deleteRoute({ dst: '10.240.0.0/16', table: 100 })).toBe(true);
    expect(p.deleteRoute({ dst: '10.240.0.0/16', table: 100 })).toBe(false);
    expect(p.deleteRoute({ dst: '10.241.0.0/16', gateway: '169.254.1.1', table: 100 })).toBe(true);
    expect(p.routes({ table: 100 })).toEqual([]);
    expect(ipj(nsPod, 'route', 'show', 'table', '100')).toEqual([]);
    // IPv6 route, with an IPv6 gateway on the link
    p.addRoute({ dst: 'fd00:240::/64', ifindex: idx, table: 100 });
    expect(p.routes({ table: 100, family: 6 })).toEqual([expect.objectContaining({ dst: 'fd00:240::/64', ifindex: idx, family: 6 })]);
    expect(p.deleteRoute({ dst: 'fd00:240::/64', table: 100 })).toBe(true);
    expect(p.deleteRoute({ dst: 'fd00:240::/64', table: 100 })).toBe(false);
    expect(catchErr(() => p.addRoute({ dst: '10.0.0.0/8', gateway: 'fd00::1' })).code).toBe('NETLINK_INVALID_ARGUMENT');
  });

  it('reads multi-part dumps completely (thousands of routes)', () => {
    const idx = mustLink(p, podVeth).index;
    const n = 3000;
    for (let i = 0; i < n; i++) p.addRoute({ dst: `10.${100 + (i >> 8)}.${i & 255}.0/24`, ifindex: idx, table: 101 });
    const mine = p.routes({ table: 101 });
    expect(mine).toHaveLength(n);
    expect(new Set(mine.map((r) => r.dst)).size).toBe(n);
    expect(ipj(nsPod, 'route', 'show', 'table', '101')).toHaveLength(n);
    for (let i = 0; i < n; i++) expect(p.deleteRoute({ dst: `10.${100 + (i >> 8)}.${i & 255}.0/24`, table: 101 })).toBe(true);
    expect(p.routes({ table: 101 })).toEqual([]);
  });

  it('adds, replaces, lists and deletes permanent neighbours', () => {
    const idx = mustLink(p, podVeth).index;
    p.addNeighbour({ ifindex: idx, ip: '10.231.0.99', mac: '02:00:00:cc:00:99' });
    expect(catchErr(() => p.addNeighbour({ ifindex: idx, ip: '10.231.0.99', mac: '02:00:00:cc:00:98' })).code).toBe('NETLINK_EEXIST');
    p.addNeighbour({ ifindex: idx, ip: '10.231.0.99', mac: '02:00:00:cc:00:98', replace: true });
    p.addNeighbour({ ifindex: idx, ip: 'fd00:231::99', mac: '02:00:00:cc:00:97' });
    const mine = p.neighbours(idx).filter((n) => n.ip.endsWith('99'));
    expect(mine).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ ifindex: idx, family: 4, ip: '10.231.0.99', mac: '02:00:00:cc:00:98', permanent: true, state: 0x80 }),
        expect.objectContaining({ ifindex: idx, family: 6, ip: 'fd00:231::99', mac: '02:00:00:cc:00:97', permanent: true }),
      ]),
    );
    const ineigh = ipj(nsPod, 'neigh', 'show', 'dev', podVeth).find((n) => n.dst === '10.231.0.99');
    expect(ineigh).toMatchObject({ lladdr: '02:00:00:cc:00:98', state: ['PERMANENT'] });
    expect(p.deleteNeighbour({ ifindex: idx, ip: '10.231.0.99' })).toBe(true);
    expect(p.deleteNeighbour({ ifindex: idx, ip: '10.231.0.99' })).toBe(false);
    expect(p.deleteNeighbour({ ifindex: idx, ip: 'fd00:231::99' })).toBe(true);
    expect(ipj(nsPod, 'neigh', 'show', 'dev', podVeth).find((n) => n.dst === '10.231.0.99')).toBeUndefined();
  });
});

describe('link changes', () => {
  it('sets MTU and MAC, renames, brings down, moves to another netns, deletes', () => {
    const a = `la${sfx}`;
    const b = `lb${sfx}`;
    h.createVeth({ name: a, peerName: b });
    const la = mustLink(h, a);
    // the kernel picks random MACs when none are given
    expect(la.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(la.mtu).toBe(1500);
    h.setMtu(la.index, 9000);
    h.setMac(la.index, '02:00:00:dd:00:01');
    h.setLinkUp(la.index);
    expect(mustLink(h, a)).toMatchObject({ mtu: 9000, mac: '02:00:00:dd:00:01', up: true });
    h.setLinkDown(la.index);
    const renamed = `lr${sfx}`;
    h.rename(la.index, renamed);
    expect(h.linkByName(a)).toBeUndefined();
    expect(mustLink(h, renamed)).toMatchObject({ index: la.index, mtu: 9000, up: false });
    const [il] = ipj(nsHost, 'link', 'show', 'dev', renamed);
    expect(il).toMatchObject({ mtu: 9000, address: '02:00:00:dd:00:01' });

    // move the peer into pod2
    const lb = mustLink(h, b);
    h.setNetns(lb.index, pod2Fd);
    expect(h.linkByName(b)).toBeUndefined();
    expect(q.linkByName(b)?.kind).toBe('veth');
    expect(ipj(nsPod2, 'link', 'show', 'dev', b)).toHaveLength(1);

    // delete by index: the peer in pod2 goes with it
    expect(h.deleteLink(la.index)).toBe(true);
    expect(h.linkByName(renamed)).toBeUndefined();
    expect(q.linkByName(b)).toBeUndefined();
    expect(ipj(nsPod2, 'link', 'show').map((l) => l.ifname)).toEqual(['lo']);
  });

  it('deletes links off the event loop, several at once (deleteLinkAsync)', async () => {
    const names = [0, 1, 2, 3, 4].map((i) => `va${i}${sfx}`);
    for (const n of names) h.createVeth({ name: n, peerName: `vb${n.slice(2)}` });
    // A timer keeps firing while the kernel tears the veths down on worker threads.
    let ticks = 0;
    const t = setInterval(() => ticks++, 1);
    try {
      expect(await Promise.all(names.map((n) => h.deleteLinkAsync(n)))).toEqual([true, true, true, true, true]);
    } finally {
      clearInterval(t);
    }
    expect(ticks).toBeGreaterThan(0);
    for (const n of names) expect(h.linkByName(n)).toBeUndefined();
    expect(ipj<Array<{ ifname: string }>>(nsHost, 'link', 'show').map((l) => l.ifname).filter((n) => names.includes(n))).toEqual([]);
    expect(await h.deleteLinkAsync(names[0]!)).toBe(false);
    // A handle bound to another netns deletes there.
    p.createVeth({ name: `vc${sfx}`, peerName: `vd${sfx}` });
    expect(await p.deleteLinkAsync(`vc${sfx}`)).toBe(true);
    expect(p.linkByName(`vd${sfx}`)).toBeUndefined();
  });

  it('creates dummy devices when the kernel has the driver, and explains when it does not', () => {
    const name = `dm${sfx}`;
    let err: NetlinkError | undefined;
    try {
      h.createDummy(name, { mtu: 1450 });
    } catch (e) {
      if (!(e instanceof NetlinkError)) throw e;
      err = e;
    }
    if (err) {
      // This kernel is built without CONFIG_DUMMY: the error must say so and point to the veth alternative.
      expect(err.code).toBe('NETLINK_EOPNOTSUPP');
      expect(err.kernelMessage).toMatch(/unknown device type/i);
      expect(err.hint).toMatch(/veth/);
      expect(h.linkByName(name)).toBeUndefined();
      return;
    }
    expect(mustLink(h, name)).toMatchObject({ kind: 'dummy', mtu: 1450 });
    expect(ipj(nsHost, '-d', 'link', 'show', 'dev', name)[0]).toMatchObject({ linkinfo: { info_kind: 'dummy' } });
    expect(h.deleteLink(name)).toBe(true);
    expect(h.deleteLink(name)).toBe(false);
  });
});

describe('vxlan', () => {
  it('creates a collect-metadata (external) device as Cilium\'s cilium_vxlan, and reads it back', () => {
    const name = `vx${sfx}`;
    h.createVxlan({ name, external: true, port: 8472, mtu: 1450 });
    const l = mustLink(h, name);
    expect(l).toMatchObject({ kind: 'vxlan', mtu: 1450, vxlan: { port: 8472, external: true } });
    expect(l.vxlan?.vni).toBeUndefined();
    const d = ipj<Array<{ linkinfo: { info_kind: string; info_data: Record<string, unknown> } }>>(nsHost, '-d', 'link', 'show', 'dev', name)[0]!;
    expect(d.linkinfo.info_kind).toBe('vxlan');
    expect(d.linkinfo.info_data).toMatchObject({ external: true, port: 8472, learning: false });
    // one external device per port and netns: the second one is refused, with a hint
    const dup = catchErr(() => h.createVxlan({ name: `vy${sfx}`, external: true, port: 8472 }));
    expect(dup.code).toBe('NETLINK_EEXIST');
    expect(dup.hint).toMatch(/port 8472/);
    // a route with lightweight-tunnel encapsulation through it (how the host reaches other nodes' pods)
    h.setLinkUp(mustLink(h, name).index);
    h.setLinkNoArp(mustLink(h, name).index, true);
    expect(mustLink(h, name).noArp).toBe(true);
    expect(ipj<Array<{ flags: string[] }>>(nsHost, 'link', 'show', 'dev', name)[0]?.flags).toContain('NOARP');
    h.addRoute({ dst: '10.233.7.0/24', ifindex: mustLink(h, name).index, encap: { type: 'ip', id: 1, dst: '172.31.9.9' }, mtu: 1400 });
    expect(h.routes().find((r) => r.dst === '10.233.7.0/24')).toMatchObject({ encap: { type: 'ip', id: 1, dst: '172.31.9.9' }, mtu: 1400 });
    const shown = ipj<Array<{ dst: string; encap?: string; id?: number; dst_?: string }>>(nsHost, 'route', 'show', '10.233.7.0/24')[0] as Record<string, unknown> | undefined;
    expect(JSON.stringify(shown)).toMatch(/172\.31\.9\.9/);
    expect(h.deleteRoute({ dst: '10.233.7.0/24' })).toBe(true);
    expect(catchErr(() => h.addRoute({ dst: '10.233.8.0/24', ifindex: mustLink(h, name).index, encap: { type: 'ip', id: 1, dst: 'fd00::1' } })).code).toBe('NETLINK_INVALID_ARGUMENT');
    expect(h.deleteLink(name)).toBe(true);
    // a classic device with a VNI
    h.createVxlan({ name, vni: 42, port: 4789 });
    expect(mustLink(h, name).vxlan).toEqual({ port: 4789, external: false, vni: 42 });
    expect(h.deleteLink(name)).toBe(true);
    expect(catchErr(() => h.createVxlan({ name }))).toMatchObject({ code: 'NETLINK_INVALID_ARGUMENT' });
  });
});

describe('pod plumbing as the CNI plugin does it', () => {
  it('IP/32 + scope-link route to the router + default via it + permanent neighbour; ping the router', () => {
    const router = '10.232.0.1';
    const podIp = '10.232.0.5';
    // the router address lives on cilium_host (a veth pair, as in Cilium) in the "host" netns
    const ch = `ch${sfx}`;
    const cn = `cn${sfx}`;
    h.createVeth({ name: ch, peerName: cn });
    const chIdx = mustLink(h, ch).index;
    h.addAddress(chIdx, `${router}/32`);
    h.setLinkUp(chIdx);
    h.setLinkUp(mustLink(h, cn).index);

    const lxc = `lx${sfx}`;
    h.createVeth({ name: lxc, peerName: 'eth0', peerNetnsFd: pod2Fd, mtu: 1500 });
    const host = mustLink(h, lxc);
    const pod = mustLink(q, 'eth0');
    expect(host.peerIndex).toBe(pod.index);
    h.setLinkUp(host.index);
    q.setLinkUp(pod.index);
    q.setLinkUp(mustLink(q, 'lo').index);
    expect(sysctlInNetns(pod2Fd, 'net.ipv6.conf.eth0.disable_ipv6', 1)).toBe('1');

    q.addAddress(pod.index, `${podIp}/32`);
    q.addRoute({ dst: `${router}/32`, ifindex: pod.index, scope: 'link' });
    q.addRoute({ dst: '0.0.0.0/0', gateway: router, ifindex: pod.index });
    q.addNeighbour({ ifindex: pod.index, ip: router, mac: host.mac });
    h.addRoute({ dst: `${podIp}/32`, ifindex: host.index, scope: 'link' });
    h.addNeighbour({ ifindex: host.index, ip: podIp, mac: pod.mac });

    expect(q.routes({ family: 4 })).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: '0.0.0.0/0', gateway: router, ifindex: pod.index, scope: 'universe', protocol: 4 }),
        expect.objectContaining({ dst: `${router}/32`, ifindex: pod.index, scope: 'link' }),
      ]),
    );
    const routes = ipj(nsPod2, 'route', 'show');
    expect(routes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: 'default', gateway: router, dev: 'eth0' }),
        expect.objectContaining({ dst: router, dev: 'eth0', scope: 'link' }),
      ]),
    );
    expect(ipj(nsPod2, 'neigh', 'show', 'dev', 'eth0')).toContainEqual(expect.objectContaining({ dst: router, lladdr: host.mac, state: ['PERMANENT'] }));
    expect(ipj(nsPod2, '-6', 'addr', 'show', 'dev', 'eth0')).toEqual([]);

    expect(inNs(nsPod2, 'ping', '-c', '2', '-i', '0.2', '-W', '2', router)).toMatch(/2 received/);
    // the default route is used for anything else: the host netns answers for its own addresses
    expect(inNs(nsPod2, 'ping', '-c', '1', '-W', '2', '10.231.0.1')).toMatch(/1 received/);

    expect(h.deleteLink(lxc)).toBe(true);
    expect(q.linkByName('eth0')).toBeUndefined();
    expect(h.deleteLink(ch)).toBe(true);
  });
});
