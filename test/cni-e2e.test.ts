/**
 * cilium-cni against the real cilium-agent, in a throwaway node netns, with real pods (netns) and real
 * packets: the plugin is run exactly as a container runtime runs it (env + config on stdin, nsenter
 * into the node netns). See test/lib/node-harness.ts for what is created and how it is removed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostVethName } from '@cilium-ts/cni';
import { ensureCniBuilt, runCni } from './lib/cni-runner.js';
import { ipJson, ipv4Addrs, sh } from './lib/netns.js';
import { TestNode, type TestPod } from './lib/node-harness.js';

function inCidr(ip: string, cidr: string): boolean {
  const [base, len] = cidr.split('/');
  const n = (s: string) => s.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
  const mask = Number(len) === 0 ? 0 : (~0 << (32 - Number(len))) >>> 0;
  return (n(ip) & mask) >>> 0 === (n(base ?? '') & mask) >>> 0;
}

async function ipamAllocated(node: TestNode): Promise<number | undefined> {
  const s = await node.agent.healthz();
  const v = s.ipam?.['ipv4-allocated'];
  return typeof v === 'number' ? v : undefined;
}

let node: TestNode;

async function podEndpoints(n: TestNode): Promise<unknown[]> {
  return (await n.agent.endpointList()).filter((e) => e.status?.['external-identifiers']?.['container-id']);
}

beforeAll(async () => {
  await ensureCniBuilt();
  node = await TestNode.start();
}, 180_000);

afterAll(async () => {
  await node?.stop();
});

describe('ADD', () => {
  let pod: TestPod;
  beforeAll(async () => {
    pod = await node.addPod();
  });

  it('prints a 1.1.0 result with an address inside the pod CIDR, interfaces, gateway and default route', () => {
    const host = hostVethName(pod.containerId, 'eth0');
    const r = pod.result;
    expect(r['cniVersion']).toBe('1.1.0');
    expect(inCidr(pod.ip, node.podCidr)).toBe(true);
    expect(pod.ip).not.toBe(node.routerIp);
    const ifs = r['interfaces'] as Array<Record<string, unknown>>;
    expect(ifs).toHaveLength(2);
    expect(ifs[0]).toMatchObject({ name: host, mtu: node.mtu });
    expect(ifs[0]).not.toHaveProperty('sandbox');
    expect(ifs[1]).toMatchObject({ name: 'eth0', sandbox: pod.netnsPath, mtu: node.mtu });
    expect(String(ifs[1]?.['mac'])).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(r['ips']).toEqual([{ interface: 1, address: `${pod.ip}/32`, gateway: node.routerIp }]);
    expect(r['routes']).toEqual([{ dst: '0.0.0.0/0', gw: node.routerIp }]);
  });

  it('configured the kernel as the result says', () => {
    const host = hostVethName(pod.containerId, 'eth0');
    expect(ipv4Addrs('eth0', pod.netnsName)).toEqual([`${pod.ip}/32`]);
    const podLink = ipJson<Array<Record<string, unknown>>>(['link', 'show', 'dev', 'eth0'], pod.netnsName)[0]!;
    expect(podLink['mtu']).toBe(node.mtu);
    expect(podLink['flags']).toContain('UP');
    expect(ipJson<Array<Record<string, unknown>>>(['link', 'show', 'dev', 'lo'], pod.netnsName)[0]!['flags']).toContain('UP');
    const hostLink = ipJson<Array<Record<string, unknown>>>(['link', 'show', 'dev', host], node.netnsName)[0]!;
    expect(hostLink['flags']).toContain('UP');
    expect(hostLink['mtu']).toBe(node.mtu);
    const routes = ipJson<Array<Record<string, unknown>>>(['-4', 'route', 'show'], pod.netnsName);
    expect(routes).toEqual(expect.arrayContaining([
      expect.objectContaining({ dst: 'default', gateway: node.routerIp, dev: 'eth0' }),
      expect.objectContaining({ dst: node.routerIp, dev: 'eth0', scope: 'link' }),
    ]));
    const neigh = ipJson<Array<Record<string, unknown>>>(['neigh', 'show', 'dev', 'eth0'], pod.netnsName);
    expect(neigh).toEqual(expect.arrayContaining([expect.objectContaining({ dst: node.routerIp, lladdr: hostLink['address'], state: ['PERMANENT'] })]));
    expect(sh('cat', ['/proc/sys/net/ipv6/conf/eth0/disable_ipv6'], { netns: pod.netnsName }).trim()).toBe('1');
  });

  it('registered the endpoint with the agent', async () => {
    const ep = await node.agent.endpointGet(`container-id:${pod.containerId}`);
    expect(ep).toBeDefined();
    expect(ep?.status.networking.addressing.map((a) => a.ipv4)).toContain(pod.ip);
    expect(ep?.status.networking['interface-name']).toBe(hostVethName(pod.containerId, 'eth0'));
  });

  it('CHECK right after ADD succeeds', async () => {
    const r = await node.cni('CHECK', pod, { prevResult: pod.result });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toBe('');
  });

  it('ADD of an IFNAME that already exists in the netns fails and leaks nothing', async () => {
    const before = await ipamAllocated(node);
    const lxcBefore = node.lxcLinks().length;
    const r = await node.cni('ADD', { ...pod, containerId: `${pod.containerId}x` });
    expect(r.exitCode).not.toBe(0);
    expect(r.json?.['code']).toBe(101);
    expect(await ipamAllocated(node)).toBe(before);
    expect(node.lxcLinks()).toHaveLength(lxcBefore);
  });

  it('a failure after the veth exists undoes everything (IP, veth, endpoint); DEL after the failed ADD succeeds', async () => {
    // The plugin runs in a netns other than the agent's (a misconfigured runtime): IPAM works, the
    // veth is created where the plugin runs, and the agent refuses the endpoint (it cannot see the link).
    const wrong = node.newPodNetns();
    const ns = node.newPodNetns();
    const before = await ipamAllocated(node);
    const containerId = `undo${Date.now()}`;
    const r = await runCni({
      command: 'ADD',
      config: node.cniConfig(),
      containerId,
      netns: ns.netnsPath,
      ifname: 'eth0',
      nodeNetns: wrong.netnsPath,
    });
    expect(r.exitCode).not.toBe(0);
    expect(r.json?.['code'], r.stdout).toBe(102);
    expect(String(r.json?.['msg'])).toContain('register endpoint');
    expect(await ipamAllocated(node)).toBe(before);
    expect(sh('ip', ['-n', wrong.netnsName, '-o', 'link', 'show']).trim().split('\n')).toHaveLength(1); // lo only
    expect(sh('ip', ['-n', ns.netnsName, '-o', 'link', 'show']).trim().split('\n')).toHaveLength(1);
    expect(await node.agent.endpointGet(`container-id:${containerId}`)).toBeUndefined();
    const del = await node.cni('DEL', { containerId, ifname: 'eth0', netnsPath: ns.netnsPath });
    expect(del.exitCode, del.stdout).toBe(0);
  });

  it('prints 0.3.1 and 0.4.0 results with ips[].version "4" and no mtu', async () => {
    for (const v of ['0.3.1', '0.4.0']) {
      const p = await node.addPod({ cniVersion: v });
      expect(p.result['cniVersion']).toBe(v);
      expect(p.result['ips']).toEqual([{ version: '4', interface: 1, address: `${p.ip}/32`, gateway: node.routerIp }]);
      for (const i of p.result['interfaces'] as Array<Record<string, unknown>>) expect(i).not.toHaveProperty('mtu');
      expect((await node.delPod(p)).exitCode).toBe(0);
    }
  });
});

describe('STATUS', () => {
  it('succeeds with no output while the agent is up', async () => {
    const r = await runCni({ command: 'STATUS', config: node.cniConfig(), nodeNetns: node.netnsPath });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toBe('');
  });
});

describe('traffic through the datapath', () => {
  let a: TestPod;
  let b: TestPod;
  const TCP_PORT = 8080;
  const UDP_PORT = 5353;
  const HOST_PORT = 9090;
  beforeAll(async () => {
    a = await node.addPod();
    b = await node.addPod();
    await node.startEchoServer(a.netnsPath, 'tcp', TCP_PORT);
    await node.startEchoServer(a.netnsPath, 'udp', UDP_PORT);
    await node.startEchoServer(node.netnsPath, 'tcp', HOST_PORT, node.routerIp);
    await node.startEchoServer(node.netnsPath, 'udp', HOST_PORT, node.routerIp);
  });

  it('ICMP pod-to-pod and pod-to-host', () => {
    for (const [from, to] of [[b, a.ip], [a, b.ip], [a, node.routerIp], [b, node.routerIp]] as const) {
      const r = node.exec(from.netnsPath, 'ping', ['-c', '2', '-W', '2', '-i', '0.2', to]);
      expect(r.code, `${from.ip} -> ${to}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it('TCP pod-to-pod and pod-to-host', () => {
    const r1 = node.echo(b.netnsPath, 'tcp', a.ip, TCP_PORT, 'hello-tcp-pod');
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toBe('hello-tcp-pod');
    const r2 = node.echo(a.netnsPath, 'tcp', node.routerIp, HOST_PORT, 'hello-tcp-host');
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toBe('hello-tcp-host');
  });

  it('UDP pod-to-pod and pod-to-host', () => {
    const r1 = node.echo(b.netnsPath, 'udp', a.ip, UDP_PORT, 'hello-udp-pod');
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toBe('hello-udp-pod');
    const r2 = node.echo(b.netnsPath, 'udp', node.routerIp, HOST_PORT, 'hello-udp-host');
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toBe('hello-udp-host');
  });

  it('the traffic went through our programs: conntrack entries for TCP, UDP and to the host', () => {
    const ct = node.ctList();
    const text = (r: Record<string, unknown>) => JSON.stringify(r);
    expect(ct.some((r) => text(r).includes(`${b.ip}:`) && text(r).includes(`${a.ip}:${TCP_PORT}`)), `no TCP CT entry ${b.ip} -> ${a.ip}:${TCP_PORT}`).toBe(true);
    expect(ct.some((r) => text(r).includes(`${a.ip}:${UDP_PORT}`)), `no UDP CT entry to ${a.ip}:${UDP_PORT}`).toBe(true);
    expect(ct.some((r) => text(r).includes(`${node.routerIp}:${HOST_PORT}`)), `no CT entry to the host ${node.routerIp}:${HOST_PORT}`).toBe(true);
    expect(ct.some((r) => /icmp/i.test(text(r)) && text(r).includes(a.ip)), 'no ICMP CT entry').toBe(true);
  });

  it('the traffic went through our programs: flows in Hubble', async () => {
    // flows are read from the ring buffer on a timer: allow a moment
    let flows: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 20; i++) {
      flows = node.observe(1000);
      if (flows.some((f) => JSON.stringify(f).includes(b.ip))) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const ipOf = (f: Record<string, unknown>) => ((f['flow'] as Record<string, unknown> | undefined)?.['IP'] ?? {}) as { source?: string; destination?: string };
    const between = (x: string, y: string) => flows.filter((f) => {
      const ip = ipOf(f);
      return (ip.source === x && ip.destination === y) || (ip.source === y && ip.destination === x);
    });
    const podFlows = between(a.ip, b.ip);
    expect(podFlows.length, `no flows between ${a.ip} and ${b.ip} in ${flows.length} flows`).toBeGreaterThan(0);
    expect(podFlows.some((f) => (f['flow'] as Record<string, unknown>)['verdict'] === 'FORWARDED')).toBe(true);
    const l4 = new Set(podFlows.map((f) => Object.keys(((f['flow'] as Record<string, unknown>)['l4'] ?? {}) as object)[0]));
    expect([...l4]).toEqual(expect.arrayContaining(['TCP', 'UDP']));
    expect([...l4].some((k) => k?.startsWith('ICMP'))).toBe(true);
    expect(between(a.ip, node.routerIp).length).toBeGreaterThan(0);
  });
});

describe('CHECK, DEL', () => {
  it('CHECK detects a removed pod-side address', async () => {
    const pod = await node.addPod();
    sh('ip', ['-n', pod.netnsName, 'addr', 'del', `${pod.ip}/32`, 'dev', 'eth0']);
    const r = await node.cni('CHECK', pod, { prevResult: pod.result });
    expect(r.exitCode).not.toBe(0);
    expect(r.json?.['code']).toBe(110);
    expect(String(r.json?.['msg'])).toContain(`${pod.ip}/32`);
    expect((await node.delPod(pod)).exitCode).toBe(0);
  });

  it('CHECK detects a missing endpoint and a missing host veth', async () => {
    const pod = await node.addPod();
    sh('ip', ['-n', node.netnsName, 'link', 'del', hostVethName(pod.containerId, 'eth0')]);
    const r = await node.cni('CHECK', pod, { prevResult: pod.result });
    expect(r.json?.['code']).toBe(110);
    expect(String(r.json?.['msg'])).toContain(hostVethName(pod.containerId, 'eth0'));
    await node.agent.endpointDelete(`container-id:${pod.containerId}`);
    const r2 = await node.cni('CHECK', pod, { prevResult: pod.result });
    expect(r2.json?.['code']).toBe(110);
    expect(String(r2.json?.['msg'])).toContain('unknown to cilium-agent');
    expect((await node.delPod(pod)).exitCode).toBe(0);
  });

  it('DEL removes veth, endpoint and address; a second DEL and a DEL without netns succeed', async () => {
    const before = await ipamAllocated(node);
    const pod = await node.addPod();
    const host = hostVethName(pod.containerId, 'eth0');
    expect(await ipamAllocated(node)).toBe((before ?? 0) + 1);
    const r = await node.delPod(pod);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(node.lxcLinks()).not.toContain(host);
    expect(sh('ip', ['-n', pod.netnsName, '-o', 'link', 'show']).trim().split('\n')).toHaveLength(1); // lo only
    expect(await node.agent.endpointGet(`container-id:${pod.containerId}`)).toBeUndefined();
    expect(await ipamAllocated(node)).toBe(before);
    const again = await node.cni('DEL', pod, { prevResult: pod.result });
    expect(again.exitCode, again.stdout).toBe(0);
    node.removePodNetns(pod);
    const gone = await node.cni('DEL', pod);
    expect(gone.exitCode, gone.stdout).toBe(0);
  });

  it('a stale repeated DEL whose prevResult names an IP now used by another pod succeeds and leaves that pod alone', async () => {
    const a = await node.addPod();
    expect((await node.delPod(a)).exitCode).toBe(0);
    const b = await node.addPod();
    const stale = { ...a.result, ips: [{ interface: 1, address: `${b.ip}/32`, gateway: node.routerIp }] };
    const r = await node.cni('DEL', a, { prevResult: stale });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(await node.agent.endpointGet(`container-id:${b.containerId}`)).toBeDefined();
    expect((await node.agent.healthz()).ipam?.ipv4).toContain(b.ip);
    expect((await node.cni('CHECK', b, { prevResult: b.result })).exitCode).toBe(0);
    expect((await node.delPod(b)).exitCode).toBe(0);
  });

  it('two attachments of one container (eth0, net1) are told apart by DEL and CHECK', async () => {
    const first = await node.addPod({ ifname: 'eth0' });
    const second = await node.addPod({ ifname: 'net1', containerId: first.containerId });
    expect(second.ip).not.toBe(first.ip);
    expect(node.lxcLinks()).toEqual(expect.arrayContaining([hostVethName(first.containerId, 'eth0'), hostVethName(first.containerId, 'net1')]));
    const r = await node.delPod(second);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(node.lxcLinks()).not.toContain(hostVethName(first.containerId, 'net1'));
    const eps = (await node.agent.endpointList()).filter((e) => e.status['external-identifiers']['container-id'] === first.containerId);
    expect(eps.map((e) => e.status.networking.addressing[0]?.ipv4)).toEqual([first.ip]);
    expect((await node.agent.healthz()).ipam?.ipv4).not.toContain(second.ip);
    const c = await node.cni('CHECK', first, { prevResult: first.result });
    expect(c.exitCode, c.stdout).toBe(0);
    expect((await node.delPod(first)).exitCode).toBe(0);
  });

  it('DEL without prevResult still releases the IP (the agent knows it) and the address is reusable', async () => {
    const before = await ipamAllocated(node);
    const pod = await node.addPod();
    const r = await node.cni('DEL', pod);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(await ipamAllocated(node)).toBe(before);
  });
});

describe('GC', () => {
  it('removes attachments that are not valid any more and leaves the valid ones alone', async () => {
    const a = await node.addPod();
    const b = await node.addPod();
    const valid = [...node.pods.values()].filter((p) => p !== b).map((p) => ({ containerID: p.containerId, ifname: p.ifname }));
    const r = await runCni({ command: 'GC', config: node.cniConfig({ 'cni.dev/valid-attachments': valid }), nodeNetns: node.netnsPath });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(await node.agent.endpointGet(`container-id:${b.containerId}`)).toBeUndefined();
    expect(node.lxcLinks()).not.toContain(hostVethName(b.containerId, 'eth0'));
    const health = await node.agent.healthz();
    expect(health.ipam?.ipv4 ?? []).not.toContain(b.ip);
    expect((await node.cni('CHECK', a, { prevResult: a.result })).exitCode).toBe(0);
    node.pods.delete(b.containerId);
  });
});

describe('scale', () => {
  it('50 parallel ADDs give 50 distinct addresses; after DEL nothing is left behind', async () => {
    // start from a clean slate: remove what earlier tests left
    for (const p of [...node.pods.values()]) expect((await node.delPod(p)).exitCode).toBe(0);
    const baseline = await ipamAllocated(node);
    expect(node.lxcLinks()).toEqual([]);
    expect(await podEndpoints(node)).toEqual([]);

    const pods = await Promise.all(Array.from({ length: 50 }, () => node.addPod()));
    const ips = new Set(pods.map((p) => p.ip));
    expect(ips.size).toBe(50);
    for (const ip of ips) expect(inCidr(ip, node.podCidr)).toBe(true);
    expect(node.lxcLinks()).toHaveLength(50);
    expect(await podEndpoints(node)).toHaveLength(50);

    const dels = await Promise.all(pods.map((p) => node.delPod(p)));
    for (const d of dels) expect(d.exitCode, d.stdout).toBe(0);
    expect(node.lxcLinks()).toEqual([]);
    expect(await podEndpoints(node)).toEqual([]);
    expect(await ipamAllocated(node)).toBe(baseline);
    for (const p of pods) expect(sh('ip', ['-n', p.netnsName, '-o', 'link', 'show']).trim().split('\n')).toHaveLength(1);
  }, 240_000);
});

describe('harness', () => {
  it('a node whose agent fails to start is cleaned up completely (netns, bpffs, tmp dir)', async () => {
    const snapshot = () => ({
      netns: readdirSync('/run/netns').filter((n) => n.startsWith('cnode-')).sort(),
      tmp: readdirSync(tmpdir()).filter((n) => n.startsWith('cilium-ts-node-')).sort(),
      mounts: readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes('cilium-ts-node-')).sort(),
    });
    const before = snapshot();
    await expect(TestNode.start({ podCidr: 'not-a-cidr' })).rejects.toThrow(/cilium-agent/);
    expect(snapshot()).toEqual(before);
  });
});

