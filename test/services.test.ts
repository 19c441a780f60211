// Services end to end: the real bin/cilium-agent in a node netns, backend pods wired by bin/cilium-cni, a
// ClusterIP service PUT through the REST API, and a client pod connecting to the VIP:
//   - socket LB: --kube-proxy-replacement true with --cgroup-root a cgroup2 directory of its own, the
//     client process placed in it (never the machine's root cgroup);
//   - per-packet LB in bpf_lxc: an agent with kube-proxy replacement off (no socket LB at all).
// Both: connections spread over the backends, ClientIP affinity sticks, a terminating backend keeps its
// open connection but gets no new ones, a service without backends is refused at once and the drop is a
// Hubble flow. Needs `make build` (bpf_lxc.o with the LB maps, bpf_sock.o for the socket LB part).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfMap, BpfObject, cgroupQuery } from '@cilium-ts/ebpf';
import { lb4MaglevCodec, u16KeyCodec, type ServiceSpec, type StatusResponse, type KubeProxyReplacementStatus } from '@cilium-ts/api';
import { REPO_ROOT } from './lib/cni-runner.js';
import { DBG_BIN, TestNode, type TestPod } from './lib/node-harness.js';
import { uniqueName } from './lib/netns.js';

const BACKEND = join(REPO_ROOT, 'test', 'lib', 'svc-backend.mjs');
const CLIENT = join(REPO_ROOT, 'test', 'lib', 'svc-client.mjs');
const CGROUP2 = '/sys/fs/cgroup/unified';
const BPF_DIR = join(REPO_ROOT, 'bpf', 'build');

function objectHas(file: string, what: { maps?: string[]; programs?: string[] }): boolean {
  const p = join(BPF_DIR, file);
  if (!existsSync(p)) return false;
  const o = BpfObject.open(p);
  try {
    const maps = new Set(o.mapNames());
    const progs = new Set(o.programNames());
    return (what.maps ?? []).every((m) => maps.has(m)) && (what.programs ?? []).every((x) => progs.has(x));
  } finally {
    o.close();
  }
}
const LB_MAPS = ['cilium_lb4_services_v2', 'cilium_lb4_backends_v3', 'cilium_lb4_reverse_nat'];
const haveLxcLb = objectHas('bpf_lxc.o', { maps: LB_MAPS });
const haveSockLb = objectHas('bpf_sock.o', { maps: LB_MAPS, programs: ['cil_sock4_connect', 'cil_sock4_sendmsg', 'cil_sock4_recvmsg', 'cil_sock4_getpeername'] });

/** A connected UDP socket (node -e, args: host port): one datagram, prints {"code"} of the error it gets
 * (ECONNREFUSED once an ICMP port unreachable quoting its own tuple comes back), or {"name"} of an answer. */
const UDP_CONNECTED_CLIENT = `
import { createSocket } from 'node:dgram';
const [host, port] = process.argv.slice(1);
const s = createSocket('udp4');
const done = (o) => { process.stdout.write(JSON.stringify(o) + '\\n'); process.exit(0); };
setTimeout(() => done({ code: 'TIMEOUT' }), 5000);
s.on('error', (e) => done({ code: e.code ?? e.message }));
s.on('message', (m) => done({ name: m.toString() }));
s.connect(Number(port), host, () => s.send('ping', (e) => { if (e) done({ code: e.code ?? e.message }); }));
`;

/** One UDP datagram of <size> bytes from an unconnected socket (node -e, args: host port size): prints
 * {"len", "name", "peer"} of the answer (the backend echoes "<name>:<datagram>"), or {"code"}. */
const UDP_BIG_CLIENT = `
import { createSocket } from 'node:dgram';
const [host, port, size] = process.argv.slice(1);
const s = createSocket('udp4');
const done = (o) => { process.stdout.write(JSON.stringify(o) + '\\n'); process.exit(0); };
setTimeout(() => done({ code: 'TIMEOUT' }), 5000);
s.on('error', (e) => done({ code: e.code ?? e.message }));
s.on('message', (m, r) => {
  const i = m.indexOf(58);
  const body = m.subarray(i + 1);
  done({ name: m.subarray(0, i).toString(), len: body.length, intact: body.every((b, j) => b === 97 + (j % 26)), peer: r.address + ':' + r.port });
});
s.send(Buffer.from(Array.from({ length: Number(size) }, (_, j) => 97 + (j % 26))), Number(port), host, (e) => { if (e) done({ code: e.code ?? e.message }); });
`;

/** A TCP sink (node -e, args: port): answers every connection with the number of bytes it read, once the
 * client ends its side. Prints "ready" once it listens. */
const TCP_SINK = `
import { createServer } from 'node:net';
const srv = createServer((s) => { let n = 0; s.on('data', (d) => (n += d.length)); s.on('end', () => s.end(String(n))); s.on('error', () => {}); });
srv.listen(Number(process.argv[1]), '0.0.0.0', () => process.stdout.write('ready\\n'));
setTimeout(() => process.exit(0), 600_000).unref();
`;

/** Sends <size> bytes over TCP (node -e, args: host port size), then prints {"answer"} or {"code"} after 8 s. */
const TCP_UPLOAD = `
import { connect } from 'node:net';
const [host, port, size] = process.argv.slice(1);
const done = (o) => { process.stdout.write(JSON.stringify(o) + '\\n'); process.exit(0); };
setTimeout(() => done({ code: 'TIMEOUT' }), 8000);
const s = connect(Number(port), host, () => s.end(Buffer.alloc(Number(size), 120)));
let got = '';
s.on('data', (d) => (got += d));
s.on('end', () => done({ answer: got }));
s.on('error', (e) => done({ code: e.code ?? e.message }));
`;

interface ManyResult {
  names: string[];
  errors: Array<{ code: string; ms: number }>;
  peers?: string[];
}

/** A LB test bed: one node, 3 backend pods (b1..b3, port 8080), a client pod. */
class Bed {
  node!: TestNode;
  backends: TestPod[] = [];
  client!: TestPod;
  readonly procs = new Set<ChildProcess>();
  readonly vip: string;

  constructor(
    readonly cgroup: string | undefined,
    vipByte: number,
  ) {
    this.vip = `10.96.${vipByte}.${(Math.floor(Math.random() * 200) + 20).toString()}`;
  }

  async start(agentArgs: string[]): Promise<void> {
    this.node = await TestNode.start({ agentArgs });
    for (let i = 1; i <= 3; i++) {
      const pod = await this.node.addPod();
      this.backends.push(pod);
      await this.spawnReady(pod.netnsPath, [BACKEND, `b${i}`, '8080']);
    }
    this.client = await this.node.addPod();
  }

  spawnReady(netnsPath: string, args: string[]): Promise<ChildProcess> {
    const p = spawn('nsenter', [`--net=${netnsPath}`, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.add(p);
    p.once('exit', () => this.procs.delete(p));
    return new Promise((resolve, reject) => {
      let err = '';
      const t = setTimeout(() => reject(new Error(`backend did not start: ${err}`)), 15_000);
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      p.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(t);
          resolve(p);
        }
      });
      p.once('exit', (c) => {
        clearTimeout(t);
        reject(new Error(`backend exited ${c}: ${err}`));
      });
    });
  }

  clientArgs(): string[] {
    return this.cgroup ? ['--cgroup', this.cgroup] : [];
  }

  many(port: number, n: number, mode: 'many' | 'udp' = 'many', vip = this.vip): ManyResult {
    const r = spawnSync('nsenter', [`--net=${this.client.netnsPath}`, process.execPath, CLIENT, ...this.clientArgs(), mode, vip, String(port), String(n)], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`svc-client ${mode} exited ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as ManyResult;
  }

  /** One held connection: `name` of its backend, `send(line)` -> the echo. */
  async hold(port: number): Promise<{ name: string; send: (l: string) => Promise<string>; close: () => void }> {
    const p = spawn('nsenter', [`--net=${this.client.netnsPath}`, process.execPath, CLIENT, ...this.clientArgs(), 'hold', this.vip, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.procs.add(p);
    p.once('exit', () => this.procs.delete(p));
    const lines = createInterface({ input: p.stdout! });
    const queue: Array<(o: Record<string, string>) => void> = [];
    const early: Array<Record<string, string>> = [];
    lines.on('line', (l) => {
      const o = JSON.parse(l) as Record<string, string>;
      const w = queue.shift();
      if (w) w(o);
      else early.push(o);
    });
    const next = (ms = 10_000): Promise<Record<string, string>> =>
      early.length > 0
        ? Promise.resolve(early.shift()!)
        : new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error('held connection: no answer')), ms);
            queue.push((o) => {
              clearTimeout(t);
              resolve(o);
            });
          });
    const first = await next();
    if (first['name'] === undefined) throw new Error(`held connection failed: ${JSON.stringify(first)}`);
    return {
      name: first['name'],
      send: async (l: string) => {
        p.stdin!.write(`${l}\n`);
        const o = await next();
        if (o['echo'] === undefined) throw new Error(`held connection: ${JSON.stringify(o)}`);
        return o['echo'];
      },
      close: () => p.stdin!.end(),
    };
  }

  spec(port: number, o: { states?: Record<string, 'active' | 'terminating'>; affinity?: boolean; backends?: TestPod[]; protocol?: 'TCP' | 'UDP' } = {}): ServiceSpec {
    return {
      'frontend-address': { ip: this.vip, port, protocol: o.protocol ?? 'TCP' },
      'backend-addresses': (o.backends ?? this.backends).map((b) => ({ ip: b.ip, port: 8080, state: o.states?.[b.ip] ?? 'active', nodeName: this.node.netnsName })),
      flags: { type: 'ClusterIP', name: 'echo', namespace: 'default', ...(o.affinity ? { sessionAffinity: true, sessionAffinityTimeout: 300 } : {}) },
    };
  }

  dbg(args: string[]): string {
    const r = spawnSync(process.execPath, [DBG_BIN, '-H', `unix://${this.node.socketPath}`, ...args], { encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`cilium-dbg ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  }

  async stop(): Promise<void> {
    for (const p of this.procs) p.kill('SIGKILL');
    await this.node?.stop();
  }
}

const counts = (names: string[]): Record<string, number> => names.reduce<Record<string, number>>((a, n) => ({ ...a, [n]: (a[n] ?? 0) + 1 }), {});

/** The behaviour both paths must show. */
function lbSuite(bed: () => Bed, path: 'socket' | 'per-packet'): void {
  it('connections to the ClusterIP spread over the 3 backends', async () => {
    const b = bed();
    const r = await b.node.agent.servicePut(1, b.spec(80));
    expect(r.spec.id).toBe(1);
    const res = b.many(80, 30);
    expect(res.errors).toEqual([]);
    expect(Object.keys(counts(res.names)).sort()).toEqual(['b1', 'b2', 'b3']);
    // which path did the work: with socket LB the datapath never sees the VIP; per packet, CT tracks it
    const toVip = b.node.ctList().filter((e) => String(e['destination']).startsWith(`${b.vip}:`));
    if (path === 'socket') expect(toVip).toEqual([]);
    else expect(toVip.length).toBeGreaterThanOrEqual(30);
  });

  it('UDP to the ClusterIP reaches the backends and the replies come from the VIP', async () => {
    const b = bed();
    await b.node.agent.servicePut(5, b.spec(53, { protocol: 'UDP' }));
    const res = b.many(53, 12, 'udp');
    expect(res.errors).toEqual([]);
    expect(new Set(res.names).size).toBeGreaterThanOrEqual(2);
    expect(new Set(res.peers)).toEqual(new Set([`${b.vip}:53`]));
  });

  it('sessionAffinity: ClientIP sticks to one backend', async () => {
    const b = bed();
    await b.node.agent.servicePut(2, b.spec(81, { affinity: true }));
    const res = b.many(81, 20);
    expect(res.errors).toEqual([]);
    expect(Object.keys(counts(res.names)).length).toBe(1);
  });

  it('affinity to a backend removed from the service goes to a remaining backend and sticks there', async () => {
    const b = bed();
    await b.node.agent.servicePut(10, b.spec(86, { affinity: true }));
    const before = b.many(86, 6);
    expect(before.errors).toEqual([]);
    expect(new Set(before.names).size).toBe(1);
    const gone = b.backends[Number(before.names[0]!.slice(1)) - 1]!;
    // the backend stays ACTIVE through another service: only its membership of this one ends
    await b.node.agent.servicePut(11, b.spec(87, { backends: [gone] }));
    await b.node.agent.servicePut(10, b.spec(86, { affinity: true, backends: b.backends.filter((x) => x !== gone) }));
    const after = b.many(86, 12);
    expect(after.errors).toEqual([]);
    expect(new Set(after.names).size).toBe(1);
    expect(after.names[0]).not.toBe(before.names[0]);
    await b.node.agent.serviceDelete(11);
  });

  it('a terminating backend keeps its open connection and gets no new ones', async () => {
    const b = bed();
    await b.node.agent.servicePut(3, b.spec(82));
    const held = await b.hold(82);
    expect(await held.send('before')).toBe('before');
    const victim = b.backends[Number(held.name.slice(1)) - 1]!;
    await b.node.agent.servicePut(3, b.spec(82, { states: { [victim.ip]: 'terminating' } }));
    const svc = await b.node.agent.serviceGet(3);
    expect(svc?.spec['backend-addresses'].find((x) => x.ip === victim.ip)?.state).toBe('terminating');
    expect(await held.send('after')).toBe('after');
    const res = b.many(82, 20);
    expect(res.errors).toEqual([]);
    expect(res.names).not.toContain(held.name);
    expect(new Set(res.names).size).toBe(2);
    expect(await held.send('still')).toBe('still');
    held.close();
    // every backend terminating (serving): they take new connections again, as Kubernetes does
    await b.node.agent.servicePut(3, b.spec(82, { states: Object.fromEntries(b.backends.map((x) => [x.ip, 'terminating' as const])) }));
    const all = b.many(82, 12);
    expect(all.errors).toEqual([]);
    expect(new Set(all.names).size).toBeGreaterThanOrEqual(2);
  });

  it('scaling the backends down and up keeps established connections to the backends that stay', async () => {
    const b = bed();
    await b.node.agent.servicePut(6, b.spec(85));
    const held = await b.hold(85);
    const stays = b.backends.find((x) => x.ip === b.backends[Number(held.name.slice(1)) - 1]!.ip)!;
    const others = b.backends.filter((x) => x !== stays);
    await b.node.agent.servicePut(6, b.spec(85, { backends: [stays] }));
    expect(await held.send('down')).toBe('down');
    expect(new Set(b.many(85, 6).names)).toEqual(new Set([held.name]));
    await b.node.agent.servicePut(6, b.spec(85, { backends: [stays, ...others] }));
    expect(await held.send('up')).toBe('up');
    expect(new Set(b.many(85, 24).names).size).toBe(3);
    held.close();
  });

  it('a service without backends is refused at once, and the drop is a flow', async () => {
    const b = bed();
    await b.node.agent.servicePut(4, b.spec(83, { backends: [] }));
    const res = b.many(83, 3);
    expect(res.names).toEqual([]);
    expect(res.errors.length).toBe(3);
    // refused, not timed out: EPERM from the socket LB (as Cilium), ECONNREFUSED from the ICMP of bpf_lxc
    for (const e of res.errors) expect(e.code).toBe(path === 'socket' ? 'EPERM' : 'ECONNREFUSED');
    const drops = b.node
      .observe(500)
      .map((x) => x['flow'] as Record<string, unknown>)
      .filter((f) => f['verdict'] === 'DROPPED' && f['drop_reason_desc'] === 'SERVICE_BACKEND_NOT_FOUND');
    expect(drops.length).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(drops[0])).toContain(b.vip);
  });
}

describe.skipIf(!haveLxcLb || !haveSockLb)('services: socket LB (bpf_sock on --cgroup-root)', () => {
  const cg = join(CGROUP2, `cilium-ts-svc-${uniqueName('')}`);
  const bed = new Bed(cg, 201);
  let agentArgs: string[] = [];

  beforeAll(async () => {
    mkdirSync(cg);
    agentArgs = ['--kube-proxy-replacement', 'true', '--cgroup-root', cg];
    await bed.start(agentArgs);
  }, 180_000);
  afterAll(async () => {
    await bed.stop();
    // the cgroup must be empty to go; its programs go with it
    if (existsSync(cg)) {
      for (const pid of readFileSync(join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          writeFileSync(join(CGROUP2, 'cgroup.procs'), `${pid}\n`);
        } catch {
          // gone already
        }
      }
      rmdirSync(cg);
    }
  });

  it('attaches the 4 programs to --cgroup-root only, and reports socket LB in healthz', async () => {
    for (const t of ['cgroup_inet4_connect', 'cgroup_udp4_sendmsg', 'cgroup_udp4_recvmsg', 'cgroup_inet4_getpeername']) expect(cgroupQuery(cg, t).length).toBe(1);
    const st = (await bed.node.agent.healthz()) as StatusResponse;
    const k = st['kube-proxy-replacement'] as KubeProxyReplacementStatus;
    expect(k.mode).toBe('true');
    expect(k.features.socketLB?.enabled).toBe(true);
    expect(k.features.hostReachableServices.enabled).toBe(true);
  });

  lbSuite(() => bed, 'socket');

  it('REST: bad input is a 400 with code and hint, nothing changed', async () => {
    const before = await bed.node.agent.serviceList();
    const bad = [
      { ...bed.spec(90), 'frontend-address': { ip: '10.96.0.300', port: 90, protocol: 'TCP' } },
      { ...bed.spec(90), 'backend-addresses': [{ ip: '10.0.0.1', port: 0 }] },
      { ...bed.spec(90), flags: { type: 'Nope' } },
    ];
    for (const spec of bad) {
      const e = await bed.node.agent.servicePut(9, spec as ServiceSpec).catch((x: unknown) => x as { status: number; code: string; hint: string });
      expect(e).toMatchObject({ status: 400, code: 'SERVICE_INVALID' });
      expect((e as { hint: string }).hint.length).toBeGreaterThan(0);
    }
    expect(await bed.node.agent.serviceGet(9)).toBeUndefined();
    expect(await bed.node.agent.serviceList()).toEqual(before);
    await expect(bed.node.agent.servicePut(0, bed.spec(91))).rejects.toMatchObject({ status: 400 });
  });

  it('cilium-dbg service list / bpf lb list / status show the services as Cilium does', () => {
    const list = bed.dbg(['service', 'list']);
    expect(list.split('\n')[0]).toMatch(/^ID\s+Frontend\s+Service Type\s+Backend/);
    expect(list).toMatch(new RegExp(`^1\\s+${bed.vip.replace(/\./g, '\\.')}:80\\s+ClusterIP\\s+1 => ${bed.backends[0]!.ip.replace(/\./g, '\\.')}:8080 \\(active\\)`, 'm'));
    const one = bed.dbg(['service', 'get', '1']);
    expect(one.split('\n').filter(Boolean).length).toBe(4);
    expect(JSON.parse(bed.dbg(['service', 'get', '1', '-o', 'json'])).spec.id).toBe(1);
    const lb = bed.dbg(['bpf', 'lb', 'list']);
    expect(lb.split('\n')[0]).toMatch(/^SERVICE ADDRESS\s+BACKEND ADDRESS \(REVNAT_ID\) \(SLOT\)/);
    expect(lb).toContain(`${bed.vip}:80/TCP`);
    expect(lb).toContain('0.0.0.0:0 (1) (0) [ClusterIP, non-routable]');
    expect(lb).toContain(`${bed.backends[1]!.ip}:8080 (1) (`);
    const st = bed.dbg(['status']);
    expect(st).toMatch(/^KubeProxyReplacement:\s+True/m);
    expect(st).toMatch(/Socket LB:\s+Enabled/);
  });

  it('services and the socket LB survive an agent restart (same ids, one copy of each program)', async () => {
    const before = (await bed.node.agent.serviceList()).map((s) => [s.spec.id, s.spec['frontend-address'].port]);
    await bed.node.restartAgent('SIGKILL');
    const after = (await bed.node.agent.serviceList()).map((s) => [s.spec.id, s.spec['frontend-address'].port]);
    expect(after).toEqual(before);
    for (const t of ['cgroup_inet4_connect', 'cgroup_udp4_sendmsg']) expect(cgroupQuery(cg, t).length).toBe(1);
    const res = bed.many(80, 12);
    expect(res.errors).toEqual([]);
    expect(new Set(res.names).size).toBeGreaterThanOrEqual(2);
    await bed.node.restartAgent('SIGTERM');
    expect(cgroupQuery(cg, 'cgroup_inet4_connect').length).toBe(1);
  });

  it('DELETE removes the service: the VIP is no longer translated', async () => {
    expect(await bed.node.agent.serviceDelete(1)).toBe(true);
    expect(await bed.node.agent.serviceDelete(1)).toBe(false);
    const res = bed.many(80, 1);
    expect(res.names).toEqual([]);
  });
});

describe.skipIf(!haveLxcLb)('services: per-packet LB in bpf_lxc (kube-proxy replacement off)', () => {
  const bed = new Bed(undefined, 202);

  beforeAll(async () => {
    await bed.start(['--kube-proxy-replacement', 'false']);
  }, 180_000);
  afterAll(async () => {
    await bed.stop();
  });

  it('runs without socket LB', async () => {
    const k = (await bed.node.agent.healthz())['kube-proxy-replacement'] as KubeProxyReplacementStatus;
    expect(k.features.socketLB?.enabled).toBe(false);
  });

  lbSuite(() => bed, 'per-packet');

  it('an ICMP port unreachable from a backend reaches the client from the VIP, quoting the VIP: a connected UDP socket gets ECONNREFUSED', async () => {
    // the backend port has no listener (svc-backend listens on 8080 only); without the translation the
    // client's stack finds no socket for an error quoting the backend and the datagram just goes unanswered
    await bed.node.agent.servicePut(12, {
      ...bed.spec(54, { protocol: 'UDP' }),
      'backend-addresses': [{ ip: bed.backends[0]!.ip, port: 9999, state: 'active', nodeName: bed.node.netnsName }],
    });
    const r = spawnSync('nsenter', [`--net=${bed.client.netnsPath}`, process.execPath, '--input-type=module', '-e', UDP_CONNECTED_CLIENT, bed.vip, '54'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ code: 'ECONNREFUSED' });
    const icmp = bed.node
      .observe(300)
      .map((x) => x['flow'] as Record<string, unknown>)
      .filter((f) => JSON.stringify(f['l4'] ?? {}).includes('ICMPv4') && (f['IP'] as Record<string, string> | undefined)?.['destination'] === bed.client.ip);
    expect(icmp.length).toBeGreaterThanOrEqual(1);
    // the flow shows the translated error: from the VIP, not from the backend
    expect(icmp.map((f) => (f['IP'] as Record<string, string>)['source'])).toContain(bed.vip);
    expect(icmp.map((f) => (f['IP'] as Record<string, string>)['source'])).not.toContain(bed.backends[0]!.ip);
    await bed.node.agent.serviceDelete(12);
  });

  it('PMTU: a backend behind a link of MTU 1000 gets a 200 kB TCP upload (DF) through the ClusterIP: the "fragmentation needed" reaches the client translated', async () => {
    // the backend sits in a netns of its own behind the node: node --pm0 (MTU 1000)--> far (eth0, MTU 1500, so the
    // backend advertises MSS 1460); the node answers the client's 1500-byte DF segments with "fragmentation
    // needed" quoting client -> backend, which the client's TCP only honours once the quote reads client -> VIP
    const far = `cpm-${uniqueName('')}`;
    const sub = `10.251.${Math.floor(Math.random() * 250) + 1}`;
    const ip = (args: string[]): void => {
      const r = spawnSync('ip', args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
    };
    ip(['netns', 'add', far]);
    try {
      ip(['-n', bed.node.netnsName, 'link', 'add', 'pm0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', far]);
      ip(['-n', bed.node.netnsName, 'link', 'set', 'pm0', 'mtu', '1000', 'up']);
      ip(['-n', bed.node.netnsName, 'addr', 'add', `${sub}.1/24`, 'dev', 'pm0']);
      ip(['-n', far, 'link', 'set', 'lo', 'up']);
      ip(['-n', far, 'link', 'set', 'eth0', 'up']);
      ip(['-n', far, 'addr', 'add', `${sub}.2/24`, 'dev', 'eth0']);
      ip(['-n', far, 'route', 'add', 'default', 'via', `${sub}.1`]);
      ip(['netns', 'exec', bed.node.netnsName, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      await bed.spawnReady(`/run/netns/${far}`, ['--input-type=module', '-e', TCP_SINK, '8080']);
      await bed.node.agent.servicePut(14, { ...bed.spec(88), 'backend-addresses': [{ ip: `${sub}.2`, port: 8080, state: 'active' }] });
      const r = spawnSync('nsenter', [`--net=${bed.client.netnsPath}`, process.execPath, '--input-type=module', '-e', TCP_UPLOAD, bed.vip, '88', '200000'], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.trim())).toEqual({ answer: '200000' });
      // the client's stack learnt the path MTU towards the VIP
      const route = spawnSync('ip', ['-n', bed.client.netnsName, 'route', 'get', bed.vip], { encoding: 'utf8' }).stdout;
      expect(route).toMatch(/mtu 1000/);
      await bed.node.agent.serviceDelete(14);
    } finally {
      spawnSync('ip', ['-n', bed.node.netnsName, 'link', 'del', 'pm0']);
      spawnSync('ip', ['netns', 'del', far]);
    }
  });

  it('a 4000-byte UDP datagram to the ClusterIP (IP fragments: later ones carry no ports) arrives whole and the reply comes from the VIP', async () => {
    await bed.node.agent.servicePut(13, bed.spec(55, { protocol: 'UDP' }));
    for (let i = 0; i < 3; i++) {
      const r = spawnSync('nsenter', [`--net=${bed.client.netnsPath}`, process.execPath, '--input-type=module', '-e', UDP_BIG_CLIENT, bed.vip, '55', '4000'], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
      expect(res).toMatchObject({ len: 4000, intact: true, peer: `${bed.vip}:55` });
      expect(['b1', 'b2', 'b3']).toContain(res['name']);
    }
    // no fragment was dropped on the way
    const drops = bed.node
      .observe(300)
      .map((x) => x['flow'] as Record<string, unknown>)
      .filter((f) => f['verdict'] === 'DROPPED' && /FRAGMENT/.test(String(f['drop_reason_desc'])));
    expect(drops).toEqual([]);
    await bed.node.agent.serviceDelete(13);
  });
});

describe.skipIf(!haveLxcLb)('services: per-packet LB with --bpf-lb-algorithm maglev', () => {
  const bed = new Bed(undefined, 203);

  beforeAll(async () => {
    await bed.start(['--kube-proxy-replacement', 'false', '--bpf-lb-algorithm', 'maglev']);
  }, 180_000);
  afterAll(async () => {
    await bed.stop();
  });

  it('writes a Maglev table per service and reports the algorithm', async () => {
    await bed.node.agent.servicePut(7, bed.spec(84));
    const k = (await bed.node.agent.healthz())['kube-proxy-replacement'] as KubeProxyReplacementStatus;
    expect(k.mode).toBe('false');
    const st = await bed.node.agent.healthz();
    expect(st.controllers.map((c) => c.name)).toContain('sync-lb-maps-cilium_lb4_maglev');
    const m = BpfMap.fromPinned(join(bed.node.bpfRoot, 'tc', 'globals', 'cilium_lb4_maglev'));
    try {
      const table = m.typed(u16KeyCodec, lb4MaglevCodec).lookup(7);
      const ids = (await bed.node.agent.serviceGet(7))!.spec['backend-addresses'].map((b) => b.id);
      expect(new Set(table)).toEqual(new Set(ids));
    } finally {
      m.close();
    }
  });

  lbSuite(() => bed, 'per-packet');
});

const haveHostLb = objectHas('bpf_host.o', { maps: LB_MAPS, programs: ['cil_from_netdev', 'cil_to_netdev'] });

describe.skipIf(!haveLxcLb || !haveHostLb)('services: NodePort from outside the node (bpf_host on --devices)', () => {
  // "outside" is a netns of its own, wired to the node by a veth: ext0 (node side, --devices) <-> eth0
  const outside = `cout-${uniqueName('')}`;
  const outsidePath = `/run/netns/${outside}`;
  const net = `192.168.${Math.floor(Math.random() * 200) + 20}`;
  const nodeIp = `${net}.1`;
  const bed = new Bed(undefined, 204);
  let rootReserved = '';

  beforeAll(async () => {
    spawnSync('ip', ['netns', 'add', outside]);
    const prepare = (n: TestNode): void => {
      const sh = (args: string[]) => {
        const r = spawnSync('ip', args, { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
      };
      sh(['-n', outside, 'link', 'set', 'lo', 'up']);
      sh(['-n', n.netnsName, 'link', 'add', 'ext0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside]);
      sh(['-n', n.netnsName, 'addr', 'add', `${nodeIp}/24`, 'dev', 'ext0']);
      sh(['-n', n.netnsName, 'link', 'set', 'ext0', 'up']);
      sh(['-n', outside, 'addr', 'add', `${net}.2/24`, 'dev', 'eth0']);
      sh(['-n', outside, 'link', 'set', 'eth0', 'up']);
      // ephemeral ports that overlap the NodePort range, in the node netns only: the agent must reserve the range there
      sh(['netns', 'exec', n.netnsName, 'sysctl', '-qw', 'net.ipv4.ip_local_port_range=20000 60999']);
    };
    rootReserved = readFileSync('/proc/sys/net/ipv4/ip_local_reserved_ports', 'utf8');
    bed.node = await TestNode.start({ nodeIp, routingMode: 'native', agentArgs: ['--kube-proxy-replacement', 'true', '--devices', 'ext0'], prepare });
    for (let i = 1; i <= 3; i++) {
      const pod = await bed.node.addPod();
      bed.backends.push(pod);
      await bed.spawnReady(pod.netnsPath, [BACKEND, `b${i}`, '8080']);
    }
    bed.client = await bed.node.addPod();
  }, 180_000);
  afterAll(async () => {
    await bed.stop();
    spawnSync('ip', ['netns', 'del', outside]);
  });

  const nodePortSpec = (ip: string, o: { etpLocal?: boolean } = {}): ServiceSpec => ({
    'frontend-address': { ip, port: 30080, protocol: 'TCP' },
    'backend-addresses': bed.backends.map((b) => ({ ip: b.ip, port: 8080, nodeName: bed.node.netnsName })),
    flags: { type: 'NodePort', name: 'echo', namespace: 'default', ...(o.etpLocal ? { extTrafficPolicy: 'Local' as const } : {}) },
  });

  it('reports NodePort on the device with the node IP', async () => {
    const k = (await bed.node.agent.healthz())['kube-proxy-replacement'] as KubeProxyReplacementStatus;
    expect(k.features.nodePort).toMatchObject({ enabled: true, portMin: 30000, portMax: 32767 });
    expect(k.deviceList).toEqual([{ name: 'ext0', ip: [nodeIp] }]);
    expect(bed.dbg(['status'])).toMatch(new RegExp(`KubeProxyReplacement:\\s+True\\s+\\[ext0 ${nodeIp.replace(/\./g, '\\.')} \\(Direct Routing\\)\\]`));
  });

  it('reserves the NodePort range in the node netns when the ephemeral ports overlap it (as Cilium), never in the root netns', () => {
    const r = spawnSync('ip', ['netns', 'exec', bed.node.netnsName, 'cat', '/proc/sys/net/ipv4/ip_local_reserved_ports'], { encoding: 'utf8' });
    expect(r.stdout.trim().split(',')).toContain('30000-32767');
    expect(readFileSync('/proc/sys/net/ipv4/ip_local_reserved_ports', 'utf8')).toBe(rootReserved);
  });

  it('a client outside reaches the NodePort on the node IP; connections spread over the backends', async () => {
    await bed.node.agent.servicePut(20, nodePortSpec(nodeIp));
    await bed.node.agent.servicePut(21, nodePortSpec('0.0.0.0'));
    const r = spawnSync('nsenter', [`--net=${outsidePath}`, process.execPath, CLIENT, 'many', nodeIp, '30080', '24'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim()) as ManyResult;
    expect(res.errors).toEqual([]);
    expect(Object.keys(counts(res.names)).sort()).toEqual(['b1', 'b2', 'b3']);
  });

  it('a pod reaches the NodePort too', () => {
    const res = bed.many(30080, 6, 'many', nodeIp);
    expect(res.errors).toEqual([]);
    expect(res.names.length).toBe(6);
  });

  const udpNodePort = (port: number, backendPort: number): ServiceSpec => ({
    'frontend-address': { ip: nodeIp, port, protocol: 'UDP' },
    'backend-addresses': bed.backends.map((b) => ({ ip: b.ip, port: backendPort, nodeName: bed.node.netnsName })),
    flags: { type: 'NodePort', name: 'echo-udp', namespace: 'default' },
  });

  it('from outside: a 4000-byte UDP datagram to the NodePort (IP fragments) arrives whole and the reply comes from the node address', async () => {
    await bed.node.agent.servicePut(22, udpNodePort(30055, 8080));
    for (let i = 0; i < 3; i++) {
      const r = spawnSync('nsenter', [`--net=${outsidePath}`, process.execPath, '--input-type=module', '-e', UDP_BIG_CLIENT, nodeIp, '30055', '4000'], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.trim())).toMatchObject({ len: 4000, intact: true, peer: `${nodeIp}:30055` });
    }
    await bed.node.agent.serviceDelete(22);
  });

  it('from outside: a backend port with no listener gives the NodePort client ECONNREFUSED (the ICMP error is translated back to the node address)', async () => {
    await bed.node.agent.servicePut(23, udpNodePort(30056, 9999));
    const r = spawnSync('nsenter', [`--net=${outsidePath}`, process.execPath, '--input-type=module', '-e', UDP_CONNECTED_CLIENT, nodeIp, '30056'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ code: 'ECONNREFUSED' });
    await bed.node.agent.serviceDelete(23);
  });
});

describe.skipIf(!haveLxcLb || !haveSockLb)('kube-proxy-replacement=strict refuses what it cannot do', () => {
  it('never attaches to the root of the cgroup2 hierarchy: strict refuses to start, naming the problem', async () => {
    const before = cgroupQuery(CGROUP2, 'cgroup_inet4_connect');
    const err = await TestNode.start({ agentArgs: ['--kube-proxy-replacement', 'strict', '--cgroup-root', CGROUP2] }).then(
      async (n) => {
        await n.stop();
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/kube-proxy-replacement=strict: socketLB needs a usable --cgroup-root: \/sys\/fs\/cgroup\/unified is the root of the cgroup2 hierarchy/);
    expect(cgroupQuery(CGROUP2, 'cgroup_inet4_connect')).toEqual(before);
  });
});
