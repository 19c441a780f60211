// End to end: a FlowObserver serving gRPC on a unique unix socket, fed with struct flow_event records, queried
// by the real bundled `bin/hubble` and by a hand-rolled HTTP/2 gRPC client that checks the wire format.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, fromBinary, fromJsonString, toBinary } from '@bufbuild/protobuf';
import {
  FlowFilterSchema,
  GetFlowsRequestSchema,
  GetFlowsResponseSchema,
  ServerStatusResponseSchema,
  ServerStatusRequestSchema,
  Verdict,
  health,
  type GetFlowsResponse,
} from '@cilium-ts/api/hubble';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointInfo } from './endpoint-resolver.js';
import { encodeFlowEvent, type RawFlowEvent } from './flow-decoder.js';
import { HubbleError } from './hubble-error.js';
import { FlowObserver } from './observer-server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const HUBBLE = join(ROOT, 'bin', 'hubble');

const eps: EndpointInfo[] = [
  { id: 101, identity: 30001, podName: 'client', namespace: 'default', labels: ['k8s:app=client'] },
  { id: 202, identity: 30002, podName: 'server', namespace: 'demo', labels: ['k8s:app=server'] },
];
const byIp: Record<string, EndpointInfo> = { '10.200.0.11': eps[0]!, '10.200.0.22': eps[1]! };
const resolver = { byId: (id: number) => eps.find((e) => e.id === id), byIp: (ip: string) => byIp[ip] };

function ev(over: Partial<RawFlowEvent>): Buffer {
  return encodeFlowEvent({
    type: 4, subtype: 5, ctState: 1, l4Proto: 6, srcEp: 101, dstEp: 202, ifindex: 9,
    saddr: '10.200.0.11', daddr: '10.200.0.22', sport: 40000, dport: 8080, tcpFlags: 2,
    icmpType: 0, icmpCode: 0, dir: 1, len: 60, srcSecId: 0, dstSecId: 0, ktime: process.hrtime.bigint(), ...over,
  });
}

/** Runs bin/hubble asynchronously (the server lives in this process: a synchronous spawn would deadlock it). */
function hubble(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [HUBBLE, ...args], { env: { ...process.env, TZ: 'UTC', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
    c.once('error', reject);
    c.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

function jsonLines(s: string): GetFlowsResponse[] {
  return s
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => fromJsonString(GetFlowsResponseSchema, l));
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One unary or server-streaming gRPC call spoken by hand over HTTP/2 (length-prefixed protobuf frames). */
async function rawGrpc(socket: string, method: string, body: Uint8Array, service = 'observer.Observer'): Promise<{ status: string | undefined; messages: Buffer[]; contentType: string | undefined }> {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': `/${service}/${method}`,
        'content-type': 'application/grpc+proto',
        te: 'trailers',
      });
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt8(0, 0);
      frame.writeUInt32BE(body.length, 1);
      Buffer.from(body).copy(frame, 5);
      req.end(frame);
      const chunks: Buffer[] = [];
      let contentType: string | undefined;
      let status: string | undefined;
      req.on('response', (h) => {
        contentType = h['content-type'] as string | undefined;
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      });
      req.on('trailers', (t) => {
        status = String(t['grpc-status']);
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', reject);
      req.on('end', () => {
        const all = Buffer.concat(chunks);
        const messages: Buffer[] = [];
        let off = 0;
        while (off + 5 <= all.length) {
          const len = all.readUInt32BE(off + 1);
          messages.push(all.subarray(off + 5, off + 5 + len));
          off += 5 + len;
        }
        expect(off).toBe(all.length);
        resolve({ status, messages, contentType });
      });
    });
  } finally {
    session.close();
  }
}

beforeAll(() => {
  const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { encoding: 'utf8', cwd: ROOT });
  if (b.status !== 0) throw new Error(`node scripts/build.mjs failed: ${b.stderr}`);
  expect(existsSync(HUBBLE)).toBe(true);
});

describe('FlowObserver over a unix socket with the real hubble CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), `hubble-${randomBytes(3).toString('hex')}-`));
  const socket = join(dir, 'sub', 'hubble.sock');
  const server = `unix://${socket}`;
  const obs = new FlowObserver({ nodeName: 'node-e2e', resolver, capacity: 16 });
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    await obs.serve(socket);
    obs.onEvent(ev({})); // TCP SYN client -> server, from-endpoint
    obs.onEvent(ev({ subtype: 0, ctState: 3, tcpFlags: 18, srcEp: 202, dstEp: 101, saddr: '10.200.0.22', daddr: '10.200.0.11', sport: 8080, dport: 40000, dir: 2 }));
    obs.onEvent(ev({ type: 1, subtype: 133, ctState: 0, l4Proto: 17, sport: 5353, dport: 53, daddr: '10.200.9.9', dstEp: 0, dstSecId: 2 }));
    obs.onEvent(ev({ l4Proto: 1, sport: 0, dport: 0, icmpType: 8, subtype: 3 }));
    obs.onEvent(Buffer.alloc(12)); // malformed: counted, not stored
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGKILL');
    await obs.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves on the socket (directory created) and counts malformed records as lost', () => {
    expect(statSync(socket).isSocket()).toBe(true);
    const s = obs.status();
    expect(s).toMatchObject({ numFlows: 4, maxFlows: 16, seenFlows: 4, lostEvents: 1 });
    expect(obs.lastError?.code).toBe('HUBBLE_EVENT_SIZE');
  });

  it('hubble observe --last 10 -o json prints protojson flows decodable by the generated types', async () => {
    const r = await hubble(['observe', '--server', server, '--last', '10', '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const res = jsonLines(r.stdout);
    expect(res).toHaveLength(4);
    expect(res.every((x) => x.nodeName === 'node-e2e')).toBe(true);
    const flows = res.map((x) => (x.responseTypes.case === 'flow' ? x.responseTypes.value : undefined));
    const [syn, synack, drop, icmp] = flows;
    expect(syn).toMatchObject({ verdict: Verdict.FORWARDED, Summary: 'TCP Flags: SYN', isReply: false, nodeName: 'node-e2e' });
    expect(syn?.source).toMatchObject({ ID: 101, identity: 30001, podName: 'client', namespace: 'default', labels: ['k8s:app=client'] });
    expect(synack).toMatchObject({ isReply: true, Summary: 'TCP Flags: SYN, ACK' });
    expect(drop).toMatchObject({ verdict: Verdict.DROPPED, dropReason: 133, Summary: 'UDP' });
    expect(drop?.isReply).toBeUndefined();
    expect(icmp?.Summary).toBe('ICMPv4 EchoRequest');
    // JSON uses the original proto field names, as upstream
    expect(r.stdout).toContain('"drop_reason_desc":"POLICY_DENIED"');
    expect(r.stdout).toContain('"trace_observation_point":"FROM_ENDPOINT"');
    expect(r.stdout).toContain('"pod_name":"client"');
  });

  it('hubble observe -o compact shows pods, identities, direction, type and verdict', async () => {
    const r = await hubble(['observe', '--server', server, '--last', '3', '-o', 'compact', '--print-node-name']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    // a reply (server -> client) is printed in the connection's direction with a reversed arrow, as upstream
    expect(lines[0]).toMatch(
      /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\.\d{3} \[node-e2e\]: default\/client:40000 \(ID:30001\) <- demo\/server:8080 \(ID:30002\) to-endpoint FORWARDED \(TCP Flags: SYN, ACK\)$/,
    );
    expect(lines[1]).toMatch(/: default\/client:5353 \(ID:30001\) <> 10\.200\.9\.9:53 \(world\) Policy denied DROPPED \(UDP\)$/);
    expect(lines[2]).toMatch(/: default\/client \(ID:30001\) -> demo\/server \(ID:30002\) to-stack FORWARDED \(ICMPv4 EchoRequest\)$/);
  });

  it('filters are applied by the server', async () => {
    const count = async (args: string[]): Promise<number> => {
      const r = await hubble(['observe', '--server', server, '-o', 'json', ...args]);
      expect(r.stderr).toBe('');
      return jsonLines(r.stdout).length;
    };
    expect(await count(['--verdict', 'DROPPED'])).toBe(1);
    expect(await count(['--verdict', 'FORWARDED'])).toBe(3);
    expect(await count(['--type', 'drop'])).toBe(1);
    expect(await count(['--type', 'trace'])).toBe(3);
    expect(await count(['--type', 'trace:to-endpoint'])).toBe(1);
    expect(await count(['--protocol', 'udp'])).toBe(1);
    expect(await count(['--protocol', 'tcp'])).toBe(2);
    expect(await count(['--protocol', 'icmp'])).toBe(1);
    expect(await count(['--from-ip', '10.200.0.11'])).toBe(3);
    expect(await count(['--to-ip', '10.200.0.0/24'])).toBe(3);
    expect(await count(['--ip', '10.200.9.9'])).toBe(1);
    expect(await count(['--from-pod', 'default/client'])).toBe(3);
    expect(await count(['--from-pod', 'client'])).toBe(3); // no namespace: default
    expect(await count(['--to-pod', 'demo/'])).toBe(2);
    expect(await count(['--pod', 'demo/server'])).toBe(3);
    expect(await count(['--to-port', '8080'])).toBe(1);
    expect(await count(['--from-port', '8080'])).toBe(1);
    expect(await count(['--port', '8080'])).toBe(2);
    expect(await count(['--to-port', '8080', '--verdict', 'DROPPED'])).toBe(0);
    expect(await count(['--last', '2'])).toBe(2);
    expect(await count(['--first', '1', '--protocol', 'udp'])).toBe(1);
    const bad = await hubble(['observe', '--server', server, '--to-ip', '10.0.0.0/99']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/invalid destination_ip filter/);
  });

  it('--follow receives flows pushed after it connected; SIGTERM ends it cleanly', async () => {
    const child = spawn(process.execPath, [HUBBLE, 'observe', '--server', server, '--follow', '-o', 'json', '--protocol', 'udp'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await until(() => obs.followers > 0, 'the follower to connect');
    expect(out).toBe(''); // --follow alone prints only new flows
    obs.onEvent(ev({ l4Proto: 6 })); // filtered out
    obs.onEvent(ev({ l4Proto: 17, sport: 7777, dport: 53 }));
    await until(() => out.includes('\n'), 'the followed flow');
    const got = jsonLines(out);
    expect(got).toHaveLength(1);
    const f = got[0]!.responseTypes.case === 'flow' ? got[0]!.responseTypes.value : undefined;
    expect(f?.l4?.protocol).toMatchObject({ case: 'UDP', value: { sourcePort: 7777, destinationPort: 53 } });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(err).toBe('');
    expect(code).toBe(0);
    await until(() => obs.followers === 0, 'the follower to go away');
  });

  it('speaks the gRPC wire protocol (length-prefixed protobuf, grpc-status trailer)', async () => {
    const req = create(GetFlowsRequestSchema, { number: 2n, whitelist: [create(FlowFilterSchema, { sourcePod: ['default/'] })] });
    const r = await rawGrpc(socket, 'GetFlows', toBinary(GetFlowsRequestSchema, req));
    expect(r.contentType).toMatch(/^application\/grpc/);
    expect(r.status).toBe('0');
    expect(r.messages).toHaveLength(2);
    const decoded = r.messages.map((m) => fromBinary(GetFlowsResponseSchema, m));
    for (const d of decoded) {
      expect(d.responseTypes.case).toBe('flow');
      expect(d.nodeName).toBe('node-e2e');
      expect(d.time?.seconds).toBeGreaterThan(1_600_000_000n);
    }
    const st = await rawGrpc(socket, 'ServerStatus', toBinary(ServerStatusRequestSchema, create(ServerStatusRequestSchema)));
    expect(st.status).toBe('0');
    const s = fromBinary(ServerStatusResponseSchema, st.messages[0]!);
    expect(s).toMatchObject({ maxFlows: 16n, numConnectedNodes: 1, numUnavailableNodes: 0 });
    expect(s.seenFlows).toBeGreaterThanOrEqual(4n);
    expect(s.uptimeNs).toBeGreaterThan(0n);
    const nodes = await rawGrpc(socket, 'GetNodes', new Uint8Array());
    expect(nodes.status).toBe('0');
    const hc = await rawGrpc(socket, 'Check', new Uint8Array(), 'grpc.health.v1.Health');
    expect(hc.status).toBe('0');
    expect(fromBinary(health.HealthCheckResponseSchema, hc.messages[0]!).status).toBe(health.HealthCheckResponse_ServingStatus.SERVING);
    const unknown = await rawGrpc(socket, 'GetAgentEvents', new Uint8Array());
    expect(unknown.status).toBe('12'); // UNIMPLEMENTED
  });

  it('hubble status prints the server status', async () => {
    const compact = await hubble(['status', '--server', server]);
    expect(compact.code).toBe(0);
    expect(compact.stdout).toMatch(new RegExp(`^Healthcheck \\(via ${server.replace(/[/.]/g, '\\$&')}\\): Ok\\nCurrent/Max Flows: \\d+/16 \\(\\d+\\.\\d\\d%\\)\\nFlows/s: \\d+\\.\\d\\d\\nConnected Nodes: 1/1\\n$`));
    const j = await hubble(['status', '--server', server, '-o', 'json']);
    const s = fromJsonString(ServerStatusResponseSchema, j.stdout);
    expect(s.maxFlows).toBe(16n);
    expect(j.stdout).toContain('"max_flows":"16"');
    const viaEnv = await hubble(['status'], { HUBBLE_SERVER: server });
    expect(viaEnv.code).toBe(0);
  });

  it('a ring smaller than the backlog reports what a follower lost', async () => {
    const small = new FlowObserver({ nodeName: 'n', resolver, capacity: 2 });
    const ac = new AbortController();
    const it = small.getFlows(create(GetFlowsRequestSchema, { follow: true }), ac.signal);
    const first = it.next();
    small.onEvent(ev({ sport: 1 }));
    expect((await first).value?.responseTypes.case).toBe('flow');
    for (let i = 2; i <= 6; i++) small.onEvent(ev({ sport: i }));
    const lost = await it.next();
    expect(lost.value?.responseTypes).toMatchObject({ case: 'lostEvents', value: { numEventsLost: 3n } });
    const next = await it.next();
    expect(next.value?.responseTypes.case === 'flow' && next.value.responseTypes.value.l4?.protocol.case === 'TCP' ? next.value.responseTypes.value.l4.protocol.value.sourcePort : -1).toBe(5);
    ac.abort();
    expect((await it.next()).done).toBe(true);
  });
});

describe('FlowObserver.stop with a follower connected', () => {
  it('ends the follow stream, closes the connection and removes the socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), `hubble-${randomBytes(3).toString('hex')}-`));
    const socket = join(dir, 'h.sock');
    const o = new FlowObserver({ nodeName: 'stopper', resolver });
    try {
      await o.serve(socket);
      const child = spawn(process.execPath, [HUBBLE, 'observe', '--server', `unix://${socket}`, '-f', '-o', 'compact'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      await until(() => o.followers > 0, 'the follower to connect');
      o.onEvent(ev({}));
      await until(() => out.includes('TCP Flags: SYN'), 'the flow');
      const t0 = Date.now();
      await o.stop();
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(existsSync(socket)).toBe(false);
      expect(await exited).toBe(0);
    } finally {
      await o.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('FlowObserver socket handling', () => {
  it('removes a stale socket file, refuses a live one and a non-socket path', async () => {
    const dir = mkdtempSync(join(tmpdir(), `hubble-${randomBytes(3).toString('hex')}-`));
    try {
      const path = join(dir, 'h.sock');
      // a stale socket: bound by a process that exited without unlinking it
      const py = spawnSync('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)})`]);
      expect(py.status).toBe(0);
      expect(statSync(path).isSocket()).toBe(true);
      const a = new FlowObserver({ nodeName: 'a', resolver });
      await a.serve(path);
      const b = new FlowObserver({ nodeName: 'b', resolver });
      await expect(b.serve(path)).rejects.toMatchObject({ code: 'HUBBLE_SOCKET_IN_USE' });
      await a.stop();
      expect(existsSync(path)).toBe(false);
      writeFileSync(path, 'not a socket');
      const err = await b.serve(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HubbleError);
      expect((err as HubbleError).code).toBe('HUBBLE_SOCKET_PATH');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
