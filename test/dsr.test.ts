// NodePort DSR across two nodes (Cilium 1.10's loadBalancer.mode=dsr / hybrid, native routing), without
// Kubernetes: two node netns and a client netns on one underlay bridge, one cilium-agent per node
// (--kube-proxy-replacement true, --routing-mode native, --devices ul0). The client connects to the NodePort on
// node 1; the only backend is a pod on node 2.
//   dsr:    node 1 forwards with the client's address and the frontend in an IPv4 option; node 2 answers the
//           client directly, from the frontend's address: the client sees node1:port as its peer, and every
//           reply reaches it from node 2's MAC (nftables counters in the client netns), none from node 1's.
//   hybrid: TCP as dsr, UDP SNATed through node 1 (its replies come from node 1's MAC).
//   snat:   (the default, for comparison) everything goes back through node 1.
// And in tunnel mode kube-proxy-replacement=strict refuses DSR, naming the reason.
// Needs `make build` (bpf_lxc.o and bpf_host.o with DSR) and nft.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfObject } from '@cilium-ts/ebpf';
import type { KubeProxyReplacementStatus, ServiceSpec } from '@cilium-ts/api';
import { REPO_ROOT } from './lib/cni-runner.js';
import { addNetns, delNetns, ipJson, uniqueName } from './lib/netns.js';
import { DBG_BIN, TestNode, Underlay, type TestPod } from './lib/node-harness.js';

const BACKEND = join(REPO_ROOT, 'test', 'lib', 'svc-backend.mjs');
const CLIENT = join(REPO_ROOT, 'test', 'lib', 'svc-client.mjs');
const HOST_OBJ = join(REPO_ROOT, 'bpf', 'build', 'bpf_host.o');

function hostHasDsr(): boolean {
  if (!existsSync(HOST_OBJ)) return false;
  const o = BpfObject.open(HOST_OBJ);
  try {
    // the SNAT range rodata came with DSR
    return o.rodataVars().some((v) => v.name === 'NODEPORT_PORT_MIN_NAT_CFG');
  } finally {
    o.close();
  }
}
const haveNft = spawnSync('nft', ['--version']).status === 0;

interface ManyResult {
  names: string[];
  errors: Array<{ code: string; ms: number }>;
  peers?: string[];
}

const macOf = (netns: string, dev: string): string => ipJson<Array<{ address: string }>>(['link', 'show', dev], netns)[0]!.address;

function nft(netns: string, script: string): string {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nft: ${r.stderr}`);
  return r.stdout;
}

/** Packets counted by the client's rules, by rule comment. */
function counters(netns: string): Record<string, number> {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'nft', '-j', 'list', 'table', 'ip', 'dsrtest'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nft list: ${r.stderr}`);
  const out: Record<string, number> = {};
  const items = (JSON.parse(r.stdout) as { nftables: Array<Record<string, unknown>> }).nftables;
  for (const it of items) {
    const rule = it['rule'] as { comment?: string; expr?: Array<Record<string, unknown>> } | undefined;
    if (!rule?.comment) continue;
    const c = rule.expr?.find((e) => e['counter'])?.['counter'] as { packets: number } | undefined;
    out[rule.comment] = c?.packets ?? 0;
  }
  return out;
}

/** UDP probes (node -e): `connected <host> <port>` prints {"code"} of the error one datagram gets (ECONNREFUSED
 * once a port unreachable quoting the socket's own tuple comes back); `big <host> <port> <size>` sends one
 * datagram of <size> letters and prints {"len", "intact", "peer"} of the answer ("<name>:<datagram>"). */
const UDP_PROBE = `
import { createSocket } from 'node:dgram';
const [mode, host, port, size] = process.argv.slice(1);
const s = createSocket('udp4');
const done = (o) => { process.stdout.write(JSON.stringify(o) + '\\n'); process.exit(0); };
setTimeout(() => done({ code: 'TIMEOUT' }), 5000);
s.on('error', (e) => done({ code: e.code ?? e.message }));
s.on('message', (m, r) => { const b = m.subarray(m.indexOf(58) + 1); done({ len: b.length, intact: b.every((x, j) => x === 97 + (j % 26)), peer: r.address + ':' + r.port }); });
if (mode === 'connected') s.connect(Number(port), host, () => s.send('ping'));
else s.send(Buffer.from(Array.from({ length: Number(size) }, (_, j) => 97 + (j % 26))), Number(port), host);
`;

const MODE_WORD = { dsr: 'DSR', hybrid: 'Hybrid', snat: 'SNAT' } as const;
for (const mode of ['dsr', 'hybrid', 'snat'] as const) {
  const tcpDsr = mode !== 'snat';
  const udpDsr = mode === 'dsr';
  describe.skipIf(!hostHasDsr() || !haveNft)(`NodePort with bpf-lb-mode=${mode} across two nodes (native routing)`, () => {
    let ul: Underlay;
    let n1: TestNode;
    let n2: TestNode;
    let backend: TestPod;
    const client = `cdsr-${uniqueName('')}`;
    const clientPath = `/run/netns/${client}`;
    const procs = new Set<ChildProcess>();
    const a = randomInt(100, 200);
    const cidr1 = `10.${a}.1.0/24`;
    const cidr2 = `10.${a}.2.0/24`;
    const args = ['--kube-proxy-replacement', 'true', '--bpf-lb-sock', 'false', '--devices', 'ul0', '--bpf-lb-mode', mode];

    beforeAll(async () => {
      ul = Underlay.create();
      addNetns(client);
      ul.attach({ netnsName: client }, 9);
      n1 = await TestNode.start({ podCidr: cidr1, routingMode: 'native', nodeIp: ul.ip(1), remoteNodes: [], agentArgs: args, prepare: (n) => ul.attach(n, 1) });
      n2 = await TestNode.start({ podCidr: cidr2, routingMode: 'native', nodeIp: ul.ip(2), remoteNodes: [], agentArgs: args, prepare: (n) => ul.attach(n, 2) });
      n1.setRemoteNodes([{ name: n2.netnsName, ip: ul.ip(2), podCIDRs: [cidr2] }]);
      n2.setRemoteNodes([{ name: n1.netnsName, ip: ul.ip(1), podCIDRs: [cidr1] }]);
      backend = await n2.addPod();
      const p = spawn('nsenter', [`--net=${backend.netnsPath}`, process.execPath, BACKEND, 'b2', '8080'], { stdio: ['ignore', 'pipe', 'pipe'] });
      procs.add(p);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('backend did not start')), 15_000);
        p.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      const deadline = Date.now() + 20_000;
      while (spawnSync('ip', ['-n', n1.netnsName, 'route', 'show', cidr2]).stdout.toString().trim() === '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const spec = (port: number, protocol: 'TCP' | 'UDP'): ServiceSpec => ({
        'frontend-address': { ip: ul.ip(1), port, protocol },
        'backend-addresses': [{ ip: backend.ip, port: 8080, nodeName: n2.netnsName }],
        flags: { type: 'NodePort', name: 'echo', namespace: 'default' },
      });
      await n1.agent.servicePut(30, spec(30090, 'TCP'));
      await n1.agent.servicePut(31, spec(30091, 'UDP'));
      // the backend has no socket on 9999
      await n1.agent.servicePut(32, { ...spec(30092, 'UDP'), 'backend-addresses': [{ ip: backend.ip, port: 9999, nodeName: n2.netnsName }] });
      // the client counts what reaches it from the frontend, by the sender's MAC
      const [m1, m2] = [macOf(n1.netnsName, 'ul0'), macOf(n2.netnsName, 'ul0')];
      nft(
        client,
        `table ip dsrtest {
  chain in {
    type filter hook input priority 0; policy accept;
    ip saddr ${ul.ip(1)} tcp sport 30090 ether saddr ${m1} counter comment "tcp-from-node1"
    ip saddr ${ul.ip(1)} tcp sport 30090 ether saddr ${m2} counter comment "tcp-from-node2"
    ip saddr ${ul.ip(1)} udp sport 30091 ether saddr ${m1} counter comment "udp-from-node1"
    ip saddr ${ul.ip(1)} udp sport 30091 ether saddr ${m2} counter comment "udp-from-node2"
  }
}
`,
      );
    }, 180_000);
    afterAll(async () => {
      for (const p of procs) p.kill('SIGKILL');
      await n1?.stop();
      await n2?.stop();
      delNetns(client);
      ul?.destroy();
    });

    const run = (what: 'many' | 'udp', port: number, n: number): ManyResult => {
      const r = spawnSync('nsenter', [`--net=${clientPath}`, process.execPath, CLIENT, what, ul.ip(1), String(port), String(n)], { encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) throw new Error(`svc-client exited ${r.status}: ${r.stderr}`);
      return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as ManyResult;
    };

    it(`reports Mode: ${MODE_WORD[mode]} (healthz and cilium-dbg status)`, async () => {
      const k = (await n1.agent.healthz())['kube-proxy-replacement'] as KubeProxyReplacementStatus;
      expect(k.features.nodePort).toMatchObject({ enabled: true, mode: MODE_WORD[mode] });
      const r = spawnSync(process.execPath, [DBG_BIN, '-H', `unix://${n1.socketPath}`, 'status'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`Mode:\\s+${MODE_WORD[mode]}\\n`));
    });

    it(`TCP: the client reaches the backend on node 2 through node 1; the replies come from node ${tcpDsr ? 2 : 1} with the frontend as source`, () => {
      const before = counters(client);
      const res = run('many', 30090, 10);
      expect(res.errors).toEqual([]);
      expect(res.names).toEqual(Array(10).fill('b2'));
      const after = counters(client);
      // every connection's SYN-ACK and greeting at least, all from one node, nothing from the other
      const [direct, via] = tcpDsr ? ['tcp-from-node2', 'tcp-from-node1'] : ['tcp-from-node1', 'tcp-from-node2'];
      expect(after[direct]! - before[direct]!).toBeGreaterThanOrEqual(2 * 10);
      expect(after[via]! - before[via]!).toBe(0);
      // DSR: no SNAT on node 1, node 2 tracked the client's own address; SNAT: node 2 saw node 1's
      const fromClient = n2.ctList().some((e) => String(e['source']).startsWith(`${ul.ip(9)}:`) && String(e['destination']) === `${backend.ip}:8080`);
      expect(fromClient).toBe(tcpDsr);
    });

    it(`UDP: ${udpDsr ? 'DSR too (the option on every datagram)' : 'SNAT through node 1'}; the client's peer is the frontend`, () => {
      const before = counters(client);
      const res = run('udp', 30091, 6);
      expect(res.errors).toEqual([]);
      expect(res.names.length).toBe(6);
      expect(new Set(res.peers)).toEqual(new Set([`${ul.ip(1)}:30091`]));
      const after = counters(client);
      const via1 = after['udp-from-node1']! - before['udp-from-node1']!;
      const via2 = after['udp-from-node2']! - before['udp-from-node2']!;
      if (udpDsr) expect({ via1, via2 }).toEqual({ via1: 0, via2: 6 });
      else expect({ via1, via2 }).toEqual({ via1: 6, via2: 0 });
    });

    const probe = (args: string[]): Record<string, unknown> => {
      const r = spawnSync('nsenter', [`--net=${clientPath}`, process.execPath, '--input-type=module', '-e', UDP_PROBE, ...args], { encoding: 'utf8', timeout: 30_000 });
      if (r.status !== 0) throw new Error(`udp probe exited ${r.status}: ${r.stderr}`);
      return JSON.parse(r.stdout.trim()) as Record<string, unknown>;
    };

    // UDP goes through SNAT in hybrid and snat mode only: these cases exist for those modes (UDP DSR puts 8
    // option bytes on every datagram, so full-size fragments no longer fit the MTU; the datapath does not
    // translate ICMP errors about DSR flows)
    if (!udpDsr) it('UDP SNAT: a 4000-byte datagram (IP fragments) reaches the backend on node 2 whole, the reply comes from the frontend', () => {
      for (let i = 0; i < 3; i++) expect(probe(['big', ul.ip(1), '30091', '4000'])).toEqual({ len: 4000, intact: true, peer: `${ul.ip(1)}:30091` });
    });

    if (!udpDsr) it('UDP SNAT: the backend\'s port unreachable (to node 1, quoting node 1:SNAT port) reaches the client translated: ECONNREFUSED', () => {
      expect(probe(['connected', ul.ip(1), '30092'])).toEqual({ code: 'ECONNREFUSED' });
    });
  });
}

describe.skipIf(!hostHasDsr())('DSR needs native routing', () => {
  it('tunnel mode: kube-proxy-replacement=strict refuses bpf-lb-mode=dsr with KPR_DSR_NEEDS_NATIVE_ROUTING', async () => {
    const err = await TestNode.start({ routingMode: 'tunnel', agentArgs: ['--kube-proxy-replacement', 'strict', '--bpf-lb-sock', 'false', '--bpf-lb-mode', 'dsr'] }).then(
      async (n) => {
        await n.stop();
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/bpf-lb-mode=dsr needs native routing, but routing-mode is tunnel/);
    expect(err?.message).toMatch(/KPR_DSR_NEEDS_NATIVE_ROUTING|routing-mode native/);
  });

  it('tunnel mode, kube-proxy-replacement=true: NodePort falls back to SNAT and says so', async () => {
    const n = await TestNode.start({ routingMode: 'tunnel', agentArgs: ['--kube-proxy-replacement', 'true', '--bpf-lb-sock', 'false', '--bpf-lb-mode', 'dsr'] });
    try {
      const k = (await n.agent.healthz())['kube-proxy-replacement'] as KubeProxyReplacementStatus;
      expect(k.features.nodePort.mode).toBe('SNAT');
      expect(k.messages?.join('\n')).toMatch(/DSR disabled: bpf-lb-mode=dsr needs routing-mode native/);
    } finally {
      await n.stop();
    }
  });
});
