// Pods on two nodes reach each other, in both routing modes, without Kubernetes: two node netns on an
// underlay bridge, one cilium-agent each, told about the other through --remote-nodes-file.
//   tunnel: bpf_lxc sets the tunnel key and redirects to cilium_vxlan; bpf_overlay delivers on the far side.
//   native: the agent routes the other node's pod CIDR via its underlay address; the stacks forward.
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './lib/cni-runner.js';
import { ipJson } from './lib/netns.js';
import { TestNode, Underlay, type TestPod } from './lib/node-harness.js';

const STREAM = join(REPO_ROOT, 'test', 'lib', 'tcp-stream.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Flow = Record<string, unknown> & { IP?: { source?: string; destination?: string } };

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

const flows = (n: TestNode, last = 500): Flow[] => n.observe(last).map((r) => r['flow'] as Flow);
/** Routes of the node's main table that the agent installed for remote nodes (rtm_protocol 98). */
const nodeRoutes = (n: TestNode) => ipJson<Array<{ dst: string; gateway?: string; protocol: string | number }>>(['route', 'show', 'proto', '98'], n.netnsName);

for (const mode of ['tunnel', 'native'] as const) {
  describe(`pods on two nodes, routingMode=${mode}`, () => {
    let ul: Underlay;
    let n1: TestNode;
    let n2: TestNode;
    let p1: TestPod;
    let p2: TestPod;
    const a = randomInt(100, 200);
    const cidr1 = `10.${a}.1.0/24`;
    const cidr2 = `10.${a}.2.0/24`;
    const mtu = mode === 'tunnel' ? 1450 : 1500;

    beforeAll(async () => {
      ul = Underlay.create();
      const ip1 = ul.ip(1);
      const ip2 = ul.ip(2);
      n1 = await TestNode.start({ podCidr: cidr1, mtu, routingMode: mode, nodeIp: ip1, remoteNodes: [], prepare: (n) => ul.attach(n, 1) });
      n2 = await TestNode.start({ podCidr: cidr2, mtu, routingMode: mode, nodeIp: ip2, remoteNodes: [], prepare: (n) => ul.attach(n, 2) });
      n1.setRemoteNodes([{ name: n2.netnsName, ip: ip2, podCIDRs: [cidr2] }, { name: n1.netnsName, ip: ip1, podCIDRs: [cidr1] }]);
      n2.setRemoteNodes([{ name: n1.netnsName, ip: ip1, podCIDRs: [cidr1] }]);
      p1 = await n1.addPod();
      p2 = await n2.addPod();
      await n2.startEchoServer(p2.netnsPath, 'tcp', 7000);
      await n2.startEchoServer(p2.netnsPath, 'udp', 7001);
      await n1.startEchoServer(p1.netnsPath, 'tcp', 7000);
      const cfg = await n1.agent.config();
      expect(cfg.status['route-mtu']).toBe(mtu);
      if (mode === 'tunnel') {
        await until('tunnel rows', () => n1.tunnelList().length === 1 && n2.tunnelList().length === 1);
      } else {
        await until('routes', () => nodeRoutes(n1).length === 1 && nodeRoutes(n2).length === 1);
      }
    }, 180_000);
    afterAll(async () => {
      await n1?.stop();
      await n2?.stop();
      ul?.destroy();
    });

    it('TCP, UDP and ping cross the nodes both ways', () => {
      expect(n1.echo(p1.netnsPath, 'tcp', p2.ip, 7000, 'tcp-1-to-2').stdout).toBe('tcp-1-to-2');
      expect(n1.echo(p1.netnsPath, 'udp', p2.ip, 7001, 'udp-1-to-2').stdout).toBe('udp-1-to-2');
      expect(n2.echo(p2.netnsPath, 'tcp', p1.ip, 7000, 'tcp-2-to-1').stdout).toBe('tcp-2-to-1');
      const ping = n1.exec(p1.netnsPath, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', p2.ip]);
      expect(ping.code, ping.stdout + ping.stderr).toBe(0);
      const back = n2.exec(p2.netnsPath, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', p1.ip]);
      expect(back.code, back.stdout + back.stderr).toBe(0);
      // a full-size TCP segment fits the route MTU (no fragments of the outer packet needed)
      const big = 'x'.repeat(4000);
      expect(n1.echo(p1.netnsPath, 'tcp', p2.ip, 7000, big).stdout).toBe(big);
    });

    if (mode === 'tunnel') {
      it('shows the tunnel map and TO_OVERLAY / FROM_OVERLAY flows', async () => {
        expect(n1.tunnelList()).toEqual([{ prefix: cidr2, tunnelEndpoint: ul.ip(2) }]);
        expect(n2.tunnelList()).toEqual([{ prefix: cidr1, tunnelEndpoint: ul.ip(1) }]);
        // the node's own route to the other node's pods: encapsulated through cilium_vxlan, from the router IP
        const r = execFileSync('ip', ['-n', n1.netnsName, 'route', 'show', 'proto', '98'], { encoding: 'utf8' }).trim();
        expect(r).toBe(`${cidr2}  encap ip id 1 src 0.0.0.0 dst ${ul.ip(2)} ttl 0 tos 0 dev cilium_vxlan scope link src ${cidr1.replace(/0\/24$/, '1')} mtu 1450 `.trim());
        const out = await until('a TO_OVERLAY flow on node 1', () => flows(n1).find((f) => f['trace_observation_point'] === 'TO_OVERLAY' && f.IP?.destination === p2.ip));
        expect(out).toMatchObject({ verdict: 'FORWARDED', IP: { source: p1.ip, destination: p2.ip } });
        const inn = await until('a FROM_OVERLAY flow on node 2', () => flows(n2).find((f) => f['trace_observation_point'] === 'FROM_OVERLAY' && f.IP?.source === p1.ip));
        expect(inn).toMatchObject({ verdict: 'FORWARDED', IP: { destination: p2.ip } });
        // the VXLAN device as Cilium makes it
        const vx = ipJson<Array<{ mtu: number; linkinfo: { info_kind: string; info_data: Record<string, unknown> } }>>(['-d', 'link', 'show', 'cilium_vxlan'], n1.netnsName)[0];
        expect(vx).toMatchObject({ mtu: 1450, linkinfo: { info_kind: 'vxlan', info_data: { external: true, port: 8472 } } });
      });

      it('drops traffic for an address no pod holds on the far side, as a flow', async () => {
        const nobody = cidr2.replace(/0\/24$/, '250');
        n1.exec(p1.netnsPath, 'ping', ['-c', '1', '-W', '1', nobody]);
        const drop = await until('an UNKNOWN_L3 drop on node 2', () => flows(n2).find((f) => f['verdict'] === 'DROPPED' && f.IP?.destination === nobody));
        expect(drop).toMatchObject({ drop_reason_desc: 'UNKNOWN_L3_TARGET_ADDRESS', IP: { source: p1.ip } });
      });
    } else {
      it('installs a route per remote pod CIDR and leaves the tunnel map empty', () => {
        expect(nodeRoutes(n1)).toMatchObject([{ dst: cidr2, gateway: ul.ip(2) }]);
        expect(nodeRoutes(n2)).toMatchObject([{ dst: cidr1, gateway: ul.ip(1) }]);
        expect(n1.tunnelList()).toEqual([]);
        expect(ipJson(['link', 'show'], n1.netnsName).map((l) => l['ifname'])).not.toContain('cilium_vxlan');
      });
    }

    it('the node reaches the other node\'s pods, and pods reach the other node', async () => {
      expect(n1.echo(n1.netnsPath, 'tcp', p2.ip, 7000, 'node1-to-pod2').stdout).toBe('node1-to-pod2');
      expect(n2.echo(n2.netnsPath, 'tcp', p1.ip, 7000, 'node2-to-pod1').stdout).toBe('node2-to-pod1');
      const srv = await n2.startEchoServer(n2.netnsPath, 'tcp', 7100);
      try {
        expect(n1.echo(p1.netnsPath, 'tcp', ul.ip(2), 7100, 'pod1-to-node2').stdout).toBe('pod1-to-node2');
      } finally {
        srv.kill('SIGKILL');
      }
    });

    it('keeps a cross-node TCP stream through an agent restart', async () => {
      const p = spawn('nsenter', [`--net=${p1.netnsPath}`, process.execPath, STREAM, p2.ip, '7000'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let last: { sent: number; received: number; done?: boolean; error?: string } = { sent: 0, received: 0 };
      let buf = '';
      p.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const l of lines) if (l.trim()) last = JSON.parse(l) as typeof last;
      });
      const exited = new Promise<number>((r) => p.once('exit', (c) => r(c ?? 1)));
      try {
        await until('the stream to start', () => last.received >= 30 || last.done);
        expect(last.done).toBeFalsy();
        await n1.restartAgent('SIGKILL');
        await n2.restartAgent('SIGKILL');
        const after = last.received;
        await until('the stream to go on after the restarts', () => last.received > after + 30 || last.done);
        expect(last.done, JSON.stringify(last)).toBeFalsy();
        if (mode === 'tunnel') expect(n1.tunnelList()).toEqual([{ prefix: cidr2, tunnelEndpoint: ul.ip(2) }]);
        else expect(nodeRoutes(n1)).toMatchObject([{ dst: cidr2, gateway: ul.ip(2) }]);
      } finally {
        p.kill('SIGTERM');
      }
      expect(await exited, `stream result ${JSON.stringify(last)}`).toBe(0);
      expect(last.error).toBeUndefined();
      expect(last.received).toBe(last.sent);
    }, 120_000);

    it('forgets a node removed from the file: its state goes and traffic to it fails', async () => {
      n1.setRemoteNodes([]);
      if (mode === 'tunnel') await until('the tunnel row to go', () => n1.tunnelList().length === 0);
      else await until('the route to go', () => nodeRoutes(n1).length === 0);
      const r = n1.echo(p1.netnsPath, 'tcp', p2.ip, 7000, 'after-removal');
      expect(r.stdout).not.toBe('after-removal');
      expect(r.code).not.toBe(0);
      // no longer sent to the overlay: handed to node 1's stack, which has no route for it
      const f = await until('a flow of the failed attempt', () => flows(n1).find((x) => x.IP?.destination === p2.ip && x['trace_observation_point'] === 'TO_STACK'));
      expect(f).toMatchObject({ IP: { source: p1.ip } });
      // and back
      n1.setRemoteNodes([{ name: n2.netnsName, ip: ul.ip(2), podCIDRs: [cidr2] }]);
      if (mode === 'tunnel') await until('the tunnel row to return', () => n1.tunnelList().length === 1);
      else await until('the route to return', () => nodeRoutes(n1).length === 1);
      expect(n1.echo(p1.netnsPath, 'tcp', p2.ip, 7000, 'back').stdout).toBe('back');
    });
  });
}
